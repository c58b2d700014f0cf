using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// The managed backend's row-wise permute against the per-element walk <see cref="PermuteArgs.SourceIndex"/>:
/// every permutation of rank 1 to 4 on odd extents (so no axis hides another), once small (serial path) and once
/// large enough to split into parallel row blocks with a ragged last block. Pure copies, so equality is exact.
/// </summary>
public class CpuPermuteTests
{
    static IEnumerable<int[]> Permutations(int rank)
    {
        if (rank == 0) { yield return []; yield break; }
        foreach (var rest in Permutations(rank - 1))
            for (int pos = 0; pos < rank; pos++)
            {
                var p = new List<int>(rest);
                p.Insert(pos, rank - 1);
                yield return p.ToArray();
            }
    }

    static void Check(CpuBackend cpu, int[] shape, int[] perm)
    {
        long n = 1; foreach (int d in shape) n *= d;
        var x = new float[n];
        // Distinct values (the element's own index) so any misplaced copy shows up.
        for (int i = 0; i < n; i++) x[i] = i;
        var args = PermuteArgs.Create(shape, perm);
        var expected = new float[n];
        for (long i = 0; i < n; i++) expected[i] = x[args.SourceIndex(i)];

        var xb = cpu.Allocate<float>(n); var yb = cpu.Allocate<float>(n);
        cpu.CopyFromHost<float>(x, xb);
        cpu.Permute(xb, yb, n, args);
        var actual = new float[n];
        cpu.CopyToHost<float>(yb, actual);
        cpu.Release(xb); cpu.Release(yb);
        for (long i = 0; i < n; i++)
            if (actual[i] != expected[i])
                Assert.Fail($"shape [{string.Join(",", shape)}] perm [{string.Join(",", perm)}]: element {i} is {actual[i]}, expected {expected[i]}");
    }

    [Theory]
    [InlineData(new[] { 7 })]
    [InlineData(new[] { 3, 5 })]
    [InlineData(new[] { 3, 5, 7 })]
    [InlineData(new[] { 2, 3, 5, 7 })]
    [InlineData(new[] { 1, 3, 1, 5 })]
    // Large: [B, T, H, D]-like, 65 871 elements, several parallel blocks of rows whatever the last axis.
    [InlineData(new[] { 3, 41, 5, 107 })]
    [InlineData(new[] { 211, 313 })]
    public void AllPermutationsMatchThePerElementWalk(int[] shape)
    {
        using var cpu = new CpuBackend();
        foreach (var perm in Permutations(shape.Length)) Check(cpu, shape, perm);
    }
}
