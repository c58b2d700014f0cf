namespace Cleft.Kernels.Cpu;

public sealed partial class CpuBackend
{
    // ---- attention (tiles in CpuAttention) ----
    public bool AttentionTakesLayouts => true;

    public void AttentionForward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, in AttentionShape shape)
    {
        float[] qv = A(q), kv = A(k), vv = A(v), ov = A(o), lv = A(lse);
        int[] mv = shape.HasMask ? I(keyMask) : [];
        var s = shape;
        Fits(s, qv, kv, vv, ov);
        // One task per (batch, head): it packs that head's keys and values once and owns its output rows.
        For((long)s.Batch * s.Heads, (long)s.T * s.T * s.D, t => CpuAttention.ForwardHead(qv, kv, vv, mv, ov, lv, s, t));
        CpuWork.AddAttention(mv, s, products: 2); // Q K^T, P V
    }

    public void AttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape)
    {
        float[] qv = A(q), kv = A(k), vv = A(v), ov = A(o), lv = A(lse), gv = A(dO), dqv = A(dq), dkv = A(dk), dvv = A(dv);
        int[] mv = shape.HasMask ? I(keyMask) : [];
        var s = shape;
        Fits(s, qv, kv, vv, ov);
        Fits(s, dqv, dkv, dvv, gv);
        // One task per (batch, head): dq rows collect every key block and dk/dv rows every query block, so a
        // head is the smallest unit with a single writer for all three (B x H tasks is plenty for a CPU).
        For((long)s.Batch * s.Heads, 3L * s.T * s.T * s.D,
            bh => CpuAttention.BackwardHead(qv, kv, vv, mv, ov, lv, gv, dqv, dkv, dvv, s, bh));
        CpuWork.AddAttention(mv, s, products: 5); // Q K^T again, dO V^T, P^T dO, dS^T Q, dS K
    }

    // The transposing pack reads through raw pointers: a layout reaching past its buffer must fail here, not read
    // past the array.
    static void Fits(AttentionShape s, float[] q, float[] k, float[] v, float[] o)
    {
        Check(s.Q, q, "q"); Check(s.K, k, "k"); Check(s.V, v, "v"); Check(s.O, o, "o");
        void Check(AttentionLayout l, float[] x, string name)
        {
            long first = Math.Min(l.Row(0, 0, 0), l.Row(s.Batch - 1, s.Heads - 1, s.T - 1));
            long end = Math.Max(l.Row(0, 0, 0), l.Row(s.Batch - 1, s.Heads - 1, s.T - 1)) + s.D;
            if (first < 0 || end > x.Length)
                throw new ArgumentException($"attention: {name}'s layout {l} reaches [{first}, {end}), its buffer holds {x.Length} floats");
        }
    }
}
