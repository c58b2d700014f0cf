using System.Diagnostics;
using Cleft.Kernels;
using Xunit.Abstractions;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Every ILGPU kernel against the managed backend, on ILGPU's CPU accelerator with warp size 32. The theory's
/// data is the kernel catalogue itself, so a new kernel without a case in <see cref="KernelCases"/> fails here,
/// and each case must actually launch the kernel it is filed under.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class CrossBackendTests(IlgpuFixture fx, ITestOutputHelper output)
{
    const int Seed = 20240731;

    public static IEnumerable<object[]> Kernels => KernelCatalog.All.Select(k => new object[] { k.Name });

    [Theory]
    [MemberData(nameof(Kernels))]
    public void KernelAgreesWithManagedBackend(string kernel)
    {
        if (!KernelCases.All.TryGetValue(kernel, out var c))
            Assert.Fail($"ILGPU kernel '{kernel}' has no cross-backend case: add one to KernelCases.All (tests/Cleft.Tests/Ilgpu/KernelCases.cs)");
        Compare(kernel, c, [kernel]);
    }

    public static IEnumerable<object[]> ComposedOps => KernelCases.Composed.Keys.Select(k => new object[] { k });

    /// <summary>Ops that have no kernel of their own (LoRA's GEMMs): each must launch the kernels it is built from.</summary>
    [Theory]
    [MemberData(nameof(ComposedOps))]
    public void ComposedOpAgreesWithManagedBackend(string op)
    {
        var (c, launches) = KernelCases.Composed[op];
        Compare(op, c, launches);
    }

    void Compare(string name, KernelCase c, string[] mustLaunch)
    {
        var sw = Stopwatch.StartNew();
        fx.Ilgpu.ClearLaunchedKernels();
        List<float[]> got, want;
        using (var s = new KernelCaseSession(fx.Ilgpu, Seed)) got = c.Run(s);
        var ilgpuTime = sw.Elapsed;
        foreach (string kernel in mustLaunch)
            Assert.True(fx.Ilgpu.LaunchedKernels.Contains(kernel),
                $"the case for '{name}' ({c.What}) never launched '{kernel}'; it launched: {string.Join(", ", fx.Ilgpu.LaunchedKernels.Order())}");
        using (var s = new KernelCaseSession(fx.Cpu, Seed)) want = c.Run(s);
        output.WriteLine($"{name}: {c.What}; ilgpu-cpu {ilgpuTime.TotalMilliseconds:F0} ms");

        Assert.Equal(want.Count, got.Count);
        var failures = new List<string>();
        for (int o = 0; o < want.Count; o++)
        {
            Assert.Equal(want[o].Length, got[o].Length);
            for (int i = 0; i < want[o].Length && failures.Count < 8; i++)
            {
                double w = want[o][i], g = got[o][i];
                if (!(Math.Abs(g - w) <= c.Abs + c.Rel * Math.Abs(w)))
                    failures.Add($"output {o}[{i}]: ilgpu {g:R}, cpu {w:R}, |diff| {Math.Abs(g - w):E2}");
            }
        }
        Assert.True(failures.Count == 0,
            $"{name} ({c.What}) disagrees with the managed backend beyond abs {c.Abs:E1} + rel {c.Rel:E1}:\n  {string.Join("\n  ", failures)}");
    }

    [Fact]
    public void EveryCaseNamesACatalogueKernel()
    {
        var names = KernelCatalog.All.Select(k => k.Name).ToHashSet();
        var stale = KernelCases.All.Keys.Where(k => !names.Contains(k)).ToList();
        Assert.True(stale.Count == 0, $"cases for kernels that are not in the catalogue: {string.Join(", ", stale)}");
    }
}
