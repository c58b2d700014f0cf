using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Cpu;

/// <summary>
/// The vectorised GELUs of the managed backend (CpuGelu: Vector512 or Vector256 body, scalar tail) against float64
/// references. Tolerance: 1e-6 absolute + 1e-6 relative for all four kernels. The formulas are exact rewrites
/// (0.5 (1 + tanh u) = sigmoid 2u), so the only error is float rounding of a handful of operations plus the vector
/// exp (within a few ulp) and, for the erf form, Abramowitz-Stegun's 1.5e-7, which lies inside the absolute part
/// (upstream gradients are 0.5..1.5 in magnitude, so the backward tolerance is the derivative's own).
/// Lengths 1..67 put every element in the body or the tail at every width; 100 003 spans several parallel chunks.
/// </summary>
public class CpuGeluTests
{
    static double Tanh64(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    static double Erf64(double x) => 0.5 * x * (1 + Reference64.Erf(x / Math.Sqrt(2)));

    static float[] Inputs(int n, int seed)
    {
        var rng = new Random(seed);
        // Mostly the bulk, plus tails out to |x| = 12 where exp overflows or underflows.
        return Enumerable.Range(0, n).Select(i => (float)(i % 7 == 3 ? 24 * rng.NextDouble() - 12 : 8 * rng.NextDouble() - 4)).ToArray();
    }

    static void Check(string form, bool backward, int n)
    {
        using var cpu = new CpuBackend();
        var x = Inputs(n, n);
        // Upstream gradients of magnitude 0.5..1.5, so the stated tolerance is the derivative's own.
        var dy = TestData.NonZero(new Rng((ulong)n), n);
        Func<double, double> f = (form, backward) switch
        {
            ("tanh", false) => Tanh64,
            ("tanh", true) => Reference64.GeluTanhDerivative,
            ("erf", false) => Erf64,
            _ => Reference64.GeluErfDerivative,
        };
        var want = x.Select((v, i) => backward ? dy[i] * f(v) : f(v)).ToArray();
        TestData.AssertClose(want, Run(cpu, form, backward, x, dy), 1e-6, 1e-6, $"{form} GELU {(backward ? "backward" : "forward")}, n = {n}");
    }

    static float[] Run(CpuBackend cpu, string form, bool backward, float[] x, float[] dy)
    {
        int n = x.Length;
        var xb = cpu.Allocate<float>(n); var db = cpu.Allocate<float>(n); var ob = cpu.Allocate<float>(n);
        cpu.CopyFromHost<float>(x, xb); cpu.CopyFromHost<float>(dy, db);
        switch (form, backward)
        {
            case ("tanh", false): cpu.Gelu(xb, ob, n); break;
            case ("tanh", true): cpu.GeluBackward(xb, db, ob, n); break;
            case ("erf", false): cpu.GeluErf(xb, ob, n); break;
            default: cpu.GeluErfBackward(xb, db, ob, n); break;
        }
        var got = new float[n];
        cpu.CopyToHost<float>(ob, got);
        return got;
    }

    /// <summary>
    /// A NaN activation stays NaN, in the vector body and in the scalar tail: the trainers' non-finite-loss check
    /// depends on it (the exp's clamps take the value as the operand through which x86 min/max pass a NaN).
    /// </summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void NaNStaysNaN(string form, bool backward)
    {
        using var cpu = new CpuBackend();
        var x = Inputs(37, 5);
        foreach (int i in new[] { 0, 9, 17, 35, 36 }) x[i] = float.NaN; // body at 16 and 8 lanes, and the tail
        var got = Run(cpu, form, backward, x, Enumerable.Repeat(1f, x.Length).ToArray());
        for (int i = 0; i < x.Length; i++)
            Assert.True(float.IsNaN(x[i]) == float.IsNaN(got[i]), $"{form} GELU {(backward ? "backward" : "forward")}: x[{i}] = {x[i]} gave {got[i]}");
    }

    public static TheoryData<string, bool> Kernels => new() { { "tanh", false }, { "tanh", true }, { "erf", false }, { "erf", true } };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MatchesFloat64AtEveryTailLength(string form, bool backward)
    {
        for (int n = 1; n <= 67; n++) Check(form, backward, n);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MatchesFloat64AcrossParallelChunks(string form, bool backward) => Check(form, backward, 100_003);
}
