using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Cross-entropy over class rows: per-row log-sum-exp, mean loss over counted rows, and dlogits.
public sealed partial class CpuBackend
{
    public void CrossEntropy(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> loss, DeviceBuffer<float> count, int rows, int classes, int ignoreIndex)
    {
        float[] lv = A(logits), sv = A(rowLse); int[] tv = I(targets);
        For(rows, classes, r =>
        {
            var li = lv.AsSpan(r * classes, classes);
            float max = TensorPrimitives.Max(li);
            double s = 0;
            foreach (float v in li) s += Math.Exp(v - max);
            sv[r] = max + (float)Math.Log(s);
        });
        double total = 0; int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            int t = tv[r];
            if (t == ignoreIndex) continue;
            total += sv[r] - lv[r * classes + t];
            counted++;
        }
        A(loss)[0] = counted == 0 ? 0f : (float)(total / counted);
        A(count)[0] = counted;
    }

    public void CrossEntropyBackward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> dloss, DeviceBuffer<float> count, DeviceBuffer<float> dlogits, int rows, int classes, int ignoreIndex)
    {
        float[] lv = A(logits), sv = A(rowLse), ov = A(dlogits); int[] tv = I(targets);
        float cnt = A(count)[0];
        float scale = cnt == 0 ? 0f : A(dloss)[0] / cnt;
        For(rows, classes, r =>
        {
            var oi = ov.AsSpan(r * classes, classes);
            int t = tv[r];
            if (t == ignoreIndex) { oi.Clear(); return; }
            var li = lv.AsSpan(r * classes, classes);
            TensorPrimitives.Subtract(li, sv[r], oi);
            TensorPrimitives.Exp(oi, oi);
            oi[t] -= 1f;
            TensorPrimitives.Multiply(oi, scale, oi);
        });
    }
}
