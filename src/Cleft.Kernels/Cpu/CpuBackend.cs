using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// The managed backend: plain .NET on the host cores, SIMD through TensorPrimitives and CpuParallel.For over
/// rows. Every output element is produced by exactly one thread in a fixed order, so results do not depend
/// on scheduling: the same seed gives the same losses.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    // Below this many elements a parallel loop costs more than it saves.
    const long ParallelThreshold = 1 << 15;

    public string Name => "cpu";
    public Precision Precision => Precision.Fp32;
    public DeviceKind Kind => DeviceKind.Cpu;
    public string Description =>
        $"managed CPU, {Environment.ProcessorCount} threads, {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "128-bit SIMD")}";
    public BufferPool Pool { get; } = new();

    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
        => Pool.Rent<CpuBuffer<T>, T>(length, cap => new CpuBuffer<T>(this, cap));

    public void Release<T>(DeviceBuffer<T> buffer) where T : unmanaged => Pool.Return(Own(buffer));

    public void CopyFromHost<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var d = Own(destination);
        if (source.Length != d.Length) throw new ArgumentException($"copy to device: {source.Length} elements into a buffer of {d.Length}");
        source.CopyTo(d.Span);
    }

    public void CopyToHost<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged
    {
        var s = Own(source);
        if (destination.Length != s.Length) throw new ArgumentException($"copy to host: {s.Length} elements into a span of {destination.Length}");
        s.Span.CopyTo(destination);
    }

    public void Synchronize() { }

    public void Dispose() => Pool.Drain(_ => { });

    /// <summary>Drops pooled buffers above the high-water mark (<see cref="BufferPool.TrimToHighWater"/>); the GC reclaims them.</summary>
    public long TrimPool() => Pool.TrimToHighWater(_ => { });

    CpuBuffer<T> Own<T>(DeviceBuffer<T> b) where T : unmanaged
    {
        if (b is not CpuBuffer<T> cb || !ReferenceEquals(b.Owner, this))
            throw new ArgumentException($"buffer belongs to device '{b.Owner.Name}', not to this '{Name}' backend");
        if (b.Released) throw new ObjectDisposedException("buffer", "buffer was already returned to the pool");
        return cb;
    }

    Span<float> S(DeviceBuffer<float> b) => Own(b).Span;
    float[] A(DeviceBuffer<float> b) => Own(b).Array;
    int[] I(DeviceBuffer<int> b) => Own(b).Array;

    static void For(long count, long workPerItem, Action<int> body)
    {
        if (count * workPerItem < ParallelThreshold || count == 1) { for (int i = 0; i < count; i++) body(i); }
        else CpuParallel.For((int)count, body);
    }

    // Splits [0, n) into fixed chunks so elementwise loops parallelise without per-element delegate calls.
    static void Chunks(long n, Action<int, int> body)
    {
        if (n < ParallelThreshold) { body(0, (int)n); return; }
        int chunk = 1 << 14;
        int count = (int)((n + chunk - 1) / chunk);
        CpuParallel.For(count, c => { int s = c * chunk; body(s, (int)Math.Min(chunk, n - s)); });
    }

    // ---- elementwise ----
    public void Fill(DeviceBuffer<float> y, long n, float value) => S(y)[..(int)n].Fill(value);

    public void Binary(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        float[] av = A(a), bv = A(b), yv = A(y);
        if (bc.Divisor == 1)
        {
            // b repeats with period Modulus: whole spans line up, so use the SIMD primitives span by span.
            int period = (int)bc.Modulus;
            For(n / period, period, r =>
            {
                var x = av.AsSpan(r * period, period); var o = yv.AsSpan(r * period, period); var w = bv.AsSpan(0, period);
                switch (op)
                {
                    case BinaryOp.Add: TensorPrimitives.Add(x, w, o); break;
                    case BinaryOp.Sub: TensorPrimitives.Subtract(x, w, o); break;
                    case BinaryOp.Mul: TensorPrimitives.Multiply(x, w, o); break;
                    default: TensorPrimitives.Divide(x, w, o); break;
                }
            });
            return;
        }
        // Each run of Divisor elements shares one b value.
        int run = (int)bc.Divisor;
        For(n / run, run, r =>
        {
            float w = bv[r % bc.Modulus];
            var x = av.AsSpan(r * run, run); var o = yv.AsSpan(r * run, run);
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, w, o); break;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, w, o); break;
                case BinaryOp.Mul: TensorPrimitives.Multiply(x, w, o); break;
                default: TensorPrimitives.Divide(x, w, o); break;
            }
        });
    }

    public void BinaryGradB(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dy, DeviceBuffer<float> g, long n, Broadcast bc)
    {
        float[] av = A(a), bv = A(b), dv = A(dy), gv = A(g);
        if (bc.Divisor == 1 && op != BinaryOp.Div)
        {
            // b is a's shape or repeats with period Modulus (a bias, a LayerScale): SIMD over whole spans, no index
            // arithmetic per element; the same single operation per element as below, so the same values.
            long period = bc.Modulus;
            if (period == n) Chunks(n, (s, len) => SpanGradB(op, dv, av, gv, s, len));
            else For(n / period, period, r => SpanGradB(op, dv, av, gv, (int)(r * period), (int)period));
            return;
        }
        Chunks(n, (s, len) =>
        {
            for (int i = s; i < s + len; i++)
            {
                float w = bv[(i / bc.Divisor) % bc.Modulus];
                gv[i] = op switch
                {
                    BinaryOp.Add => dv[i],
                    BinaryOp.Sub => -dv[i],
                    BinaryOp.Mul => dv[i] * av[i],
                    _ => -dv[i] * av[i] / (w * w),
                };
            }
        });
    }

    static void SpanGradB(BinaryOp op, float[] dv, float[] av, float[] gv, int start, int len)
    {
        var d = dv.AsSpan(start, len); var o = gv.AsSpan(start, len);
        switch (op)
        {
            case BinaryOp.Add: d.CopyTo(o); break;
            case BinaryOp.Sub: TensorPrimitives.Negate(d, o); break;
            default: TensorPrimitives.Multiply(d, av.AsSpan(start, len), o); break;
        }
    }

    public void Axpy(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        float[] xv = A(x), yv = A(y);
        Chunks(n, (s, len) => TensorPrimitives.MultiplyAdd(xv.AsSpan(s, len), alpha, yv.AsSpan(s, len), yv.AsSpan(s, len)));
    }

    public void Scale(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        float[] xv = A(x), yv = A(y);
        Chunks(n, (s, len) => TensorPrimitives.Multiply(xv.AsSpan(s, len), alpha, yv.AsSpan(s, len)));
    }

    public void Gelu(DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        float[] xv = A(x), yv = A(y);
        Chunks(n, (s, len) => CpuGelu.Run<CpuGelu.TanhForward>(xv, xv, yv, s, len));
    }

    public void GeluBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n)
    {
        float[] xv = A(x), dv = A(dy), ov = A(dx);
        Chunks(n, (s, len) => CpuGelu.Run<CpuGelu.TanhBackward>(xv, dv, ov, s, len));
    }

    public void Dropout(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, float p, ulong seed)
    {
        float[] xv = A(x), yv = A(y);
        Chunks(n, (s, len) => CpuDropout.Apply(xv.AsSpan(s, len), yv.AsSpan(s, len), p, seed, s));
    }
}
