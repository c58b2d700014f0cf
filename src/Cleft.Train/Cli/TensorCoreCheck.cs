using System.Globalization;
using Cleft.Kernels;

namespace Cleft.Train.Cli;

/// <summary>
/// `cleft devices --tensor-core-check`: the bf16 tensor-core kernels (GEMM in all four transposes with a batch, attention
/// forward and backward with causal masking and key padding) on an ILGPU device against the managed backend on the
/// same bf16-rounded inputs. On CUDA it checks what no CPU test can: that the hardware's mma.sync fragments are the
/// ones the kernels' emulation assumes (docs/TENSOR_CORES.md). On ilgpu-cpu it runs the emulation at small sizes.
/// </summary>
public static class TensorCoreCheck
{
    /// <summary>GEMM: fp32 sums in another order only. Attention: P and dS are rounded to bf16 inside the kernels too.</summary>
    const double GemmTolerance = 1e-3, AttentionTolerance = 2e-2;

    public static int Run(IBackend device, TextWriter output)
    {
        if (device.Precision != Precision.Bf16 || device.Kind == DeviceKind.Cpu)
            throw new ArgumentException($"--tensor-core-check needs an ILGPU device in bf16 (--device cuda or ilgpu-cpu, --precision bf16); got {device.Name} in {device.Precision.Name()}");
        using var reference = Devices.Create("cpu");
        bool small = device.Kind != DeviceKind.Cuda; // the emulation is slow: odd sizes that still cross tile edges
        var rng = new Random(7);
        int failures = 0;
        var (m, n, k) = small ? (70, 50, 40) : (1000, 700, 900);
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            var shape = GemmShape.Contiguous(2, m, n, k, ta, tb);
            float[] a = Rounded(rng, 2L * m * k), b = Rounded(rng, 2L * k * n);
            double err = Compare(Gemm(device, a, b, shape), Gemm(reference, a, b, shape));
            failures += Report(output, $"gemm {m}x{n}x{k} batch 2{(ta ? " A^T" : "")}{(tb ? " B^T" : "")}", err, GemmTolerance);
        }
        var att = small ? new AttentionShape(2, 2, 33, 64, 0.125f, Causal: true, HasMask: true)
                        : new AttentionShape(4, 8, 333, 64, 0.125f, Causal: true, HasMask: true);
        var mask = Enumerable.Range(0, att.Batch * att.T).Select(i => i % att.T < att.T - 5 * (i / att.T) ? 1 : 0).ToArray();
        float[] q = Rounded(rng, att.Elements), kk = Rounded(rng, att.Elements), v = Rounded(rng, att.Elements), dO = Rounded(rng, att.Elements);
        var ours = Attention(device, q, kk, v, dO, mask, att);
        var theirs = Attention(reference, q, kk, v, dO, mask, att);
        string[] names = ["o", "dq", "dk", "dv"];
        for (int i = 0; i < names.Length; i++)
            failures += Report(output, $"attention {names[i]} B{att.Batch} H{att.Heads} T{att.T} D{att.D} causal + padding", Compare(ours[i], theirs[i]), AttentionTolerance);
        output.WriteLine(failures == 0 ? "tensor-core check: all passed" : $"tensor-core check: {failures} failed");
        return failures == 0 ? 0 : 1;
    }

    static int Report(TextWriter output, string what, double error, double tolerance)
    {
        bool ok = error <= tolerance;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(ok ? "ok  " : "FAIL")} {what}: max error {error:E2} of the largest value (tolerance {tolerance:E0})"));
        return ok ? 0 : 1;
    }

    /// <summary>Uniform values already representable in bf16, so both sides multiply the same numbers.</summary>
    static float[] Rounded(Random rng, long n)
    {
        var x = new float[n];
        for (long i = 0; i < n; i++) x[i] = Bf16.Round((float)(rng.NextDouble() * 2 - 1));
        return x;
    }

    /// <summary>Largest |a - b| over the largest |b| (at least 1): one number per output, comparable across sizes.</summary>
    static double Compare(float[] a, float[] b)
    {
        double scale = 1, worst = 0;
        for (int i = 0; i < b.Length; i++) scale = Math.Max(scale, Math.Abs(b[i]));
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, double.IsFinite(a[i]) ? Math.Abs(a[i] - b[i]) : double.PositiveInfinity);
        return worst / scale;
    }

    static float[] Gemm(IBackend dev, float[] a, float[] b, GemmShape shape)
    {
        using var buffers = new Buffers(dev);
        var c = buffers.Empty((long)shape.Batch * shape.M * shape.N);
        dev.Gemm(buffers.Of(a), buffers.Of(b), c, shape);
        return buffers.Read(c);
    }

    static float[][] Attention(IBackend dev, float[] q, float[] k, float[] v, float[] dO, int[] mask, AttentionShape s)
    {
        using var buffers = new Buffers(dev);
        var keyMask = dev.Allocate<int>(mask.Length);
        try
        {
            dev.CopyFromHost<int>(mask, keyMask);
            DeviceBuffer<float> qb = buffers.Of(q), kb = buffers.Of(k), vb = buffers.Of(v), o = buffers.Empty(s.Elements), lse = buffers.Empty(s.Rows);
            dev.AttentionForward(qb, kb, vb, keyMask, o, lse, s);
            DeviceBuffer<float> dq = buffers.Empty(s.Elements), dk = buffers.Empty(s.Elements), dv = buffers.Empty(s.Elements);
            dev.AttentionBackward(qb, kb, vb, keyMask, o, lse, buffers.Of(dO), dq, dk, dv, s);
            return [buffers.Read(o), buffers.Read(dq), buffers.Read(dk), buffers.Read(dv)];
        }
        finally { dev.Release(keyMask); }
    }

    /// <summary>Device buffers of one comparison, released together.</summary>
    sealed class Buffers(IBackend dev) : IDisposable
    {
        readonly List<DeviceBuffer<float>> _all = [];

        public DeviceBuffer<float> Empty(long n) { var b = dev.Allocate<float>(n); _all.Add(b); return b; }
        public DeviceBuffer<float> Of(float[] x) { var b = Empty(x.Length); dev.CopyFromHost<float>(x, b); return b; }
        public float[] Read(DeviceBuffer<float> b) { var x = new float[b.Length]; dev.CopyToHost<float>(b, x); return x; }
        public void Dispose() { foreach (var b in _all) dev.Release(b); }
    }
}
