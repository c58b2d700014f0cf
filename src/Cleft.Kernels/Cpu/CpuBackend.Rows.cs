using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

public sealed partial class CpuBackend
{
    // ---- reductions and broadcasts ----
    public void ReduceTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        float[] xv = A(x), yv = A(y);
        long run = bc.Divisor, period = bc.Divisor * bc.Modulus, outer = n / period;
        For(bc.Modulus, n / bc.Modulus, j =>
        {
            // Accumulate in double: sums over long rows stay close to the float64 reference.
            double acc = 0;
            for (long o = 0; o < outer; o++)
            {
                long start = o * period + j * run;
                acc += run == 1 ? xv[start] : TensorPrimitives.Sum(xv.AsSpan((int)start, (int)run));
            }
            yv[j] = (float)acc;
        });
    }

    public void BroadcastTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        float[] xv = A(x), yv = A(y);
        int run = (int)bc.Divisor;
        For(n / run, run, r =>
        {
            if (run == 1) yv[r] = xv[r % bc.Modulus];
            else yv.AsSpan(r * run, run).Fill(xv[r % bc.Modulus]);
        });
    }

    public void Gemm(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, in GemmShape shape)
        => CpuGemm.Multiply(A(a), A(b), A(c), shape);

    // ---- row-wise ----
    public void Softmax(DeviceBuffer<float> x, DeviceBuffer<float> y, int rows, int cols, bool log)
    {
        float[] xv = A(x), yv = A(y);
        For(rows, cols, r =>
        {
            var xi = xv.AsSpan(r * cols, cols); var yi = yv.AsSpan(r * cols, cols);
            float max = TensorPrimitives.Max(xi);
            TensorPrimitives.Subtract(xi, max, yi);
            if (log)
            {
                float lse = MathF.Log(SumExp(yi));
                TensorPrimitives.Subtract(yi, lse, yi);
            }
            else
            {
                TensorPrimitives.Exp(yi, yi);
                TensorPrimitives.Multiply(yi, 1f / TensorPrimitives.Sum(yi), yi);
            }
        });
    }

    static float SumExp(ReadOnlySpan<float> v)
    {
        float s = 0;
        foreach (float t in v) s += MathF.Exp(t);
        return s;
    }

    public void SoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, bool log)
    {
        float[] yv = A(y), dv = A(dy), ov = A(dx);
        For(rows, cols, r =>
        {
            var yi = yv.AsSpan(r * cols, cols); var di = dv.AsSpan(r * cols, cols); var oi = ov.AsSpan(r * cols, cols);
            if (log)
            {
                float s = TensorPrimitives.Sum(di);
                for (int j = 0; j < cols; j++) oi[j] = di[j] - MathF.Exp(yi[j]) * s;
            }
            else
            {
                float dot = TensorPrimitives.Dot(di, yi);
                for (int j = 0; j < cols; j++) oi[j] = yi[j] * (di[j] - dot);
            }
        });
    }

    public void LayerNorm(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> beta, DeviceBuffer<float> y,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, int rows, int cols, float eps)
    {
        float[] xv = A(x), gv = A(gamma), bv = A(beta), yv = A(y), mv = A(mean), rv = A(rstd);
        For(rows, cols, r =>
        {
            var xi = xv.AsSpan(r * cols, cols); var yi = yv.AsSpan(r * cols, cols);
            float mu = TensorPrimitives.Sum(xi) / cols;
            // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
            TensorPrimitives.Subtract(xi, mu, yi);
            float var = TensorPrimitives.Dot(yi, yi) / cols;
            float rs = 1f / MathF.Sqrt(var + eps);
            mv[r] = mu; rv[r] = rs;
            TensorPrimitives.Multiply(yi, rs, yi);
            TensorPrimitives.FusedMultiplyAdd(yi, gv.AsSpan(0, cols), bv.AsSpan(0, cols), yi);
        });
    }

    public void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> mean, DeviceBuffer<float> rstd,
        DeviceBuffer<float> dy, DeviceBuffer<float> dx, DeviceBuffer<float> dgamma, DeviceBuffer<float> dbeta, int rows, int cols)
    {
        float[] xv = A(x), gv = A(gamma), mv = A(mean), rv = A(rstd), dv = A(dy), ov = A(dx), dgv = A(dgamma), dbv = A(dbeta);
        For(rows, cols, r =>
        {
            float mu = mv[r], rs = rv[r];
            double sumG = 0, sumGX = 0; // sums of g = dy*gamma and g*xhat
            int o = r * cols;
            for (int j = 0; j < cols; j++)
            {
                float xh = (xv[o + j] - mu) * rs, g = dv[o + j] * gv[j];
                sumG += g; sumGX += g * xh;
            }
            float mg = (float)(sumG / cols), mgx = (float)(sumGX / cols);
            for (int j = 0; j < cols; j++)
            {
                float xh = (xv[o + j] - mu) * rs, g = dv[o + j] * gv[j];
                ov[o + j] = rs * (g - mg - xh * mgx);
            }
        });
        // Column sums over rows, parallel over columns so each output has one writer.
        For(cols, rows, j =>
        {
            double sg = 0, sb = 0;
            for (int r = 0; r < rows; r++)
            {
                float d = dv[r * cols + j];
                sg += d * (xv[r * cols + j] - mv[r]) * rv[r];
                sb += d;
            }
            dgv[j] = (float)sg; dbv[j] = (float)sb;
        });
    }

    // ---- embedding and cross-entropy ----
    public void EmbeddingForward(DeviceBuffer<float> weight, DeviceBuffer<int> ids, DeviceBuffer<float> y, int count, int dim)
    {
        float[] wv = A(weight), yv = A(y); int[] iv = I(ids);
        For(count, dim, t => wv.AsSpan(iv[t] * dim, dim).CopyTo(yv.AsSpan(t * dim, dim)));
    }

    public void EmbeddingBackward(DeviceBuffer<float> dy, DeviceBuffer<int> ids, DeviceBuffer<float> dweight, int count, int dim)
    {
        float[] dv = A(dy), wv = A(dweight); int[] iv = I(ids);
        // Sequential over tokens: repeated ids add in a fixed order, so the result is deterministic.
        for (int t = 0; t < count; t++)
        {
            var row = wv.AsSpan(iv[t] * dim, dim);
            TensorPrimitives.Add(row, dv.AsSpan(t * dim, dim), row);
        }
    }

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

    // ---- layout ----
    public void Permute(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, in PermuteArgs args)
    {
        float[] xv = A(x), yv = A(y);
        var pa = args;
        Chunks(n, (s, len) => { for (int i = s; i < s + len; i++) yv[i] = xv[pa.SourceIndex(i)]; });
    }

    public void CopyBlock(DeviceBuffer<float> src, long srcOffset, long srcStride, DeviceBuffer<float> dst, long dstOffset, long dstStride,
        long rows, long rowLength)
    {
        float[] sv = A(src), dv = A(dst);
        For(rows, rowLength, r => sv.AsSpan((int)(srcOffset + r * srcStride), (int)rowLength)
            .CopyTo(dv.AsSpan((int)(dstOffset + r * dstStride), (int)rowLength)));
    }
}
