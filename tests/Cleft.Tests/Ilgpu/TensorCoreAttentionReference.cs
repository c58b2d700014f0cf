using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// A host model of what the tensor-core attention kernels compute, rounding where they round: q, k, v, dO enter the
/// products as bf16; scores are fp32 sums over d in d order (the mma emulation's order); the forward runs the same
/// online softmax over tiles of 32 keys and rounds each tile's P = exp(s - running max) to bf16 before P V; the
/// backward rounds P and dS to bf16 before dV, dK and dQ. It differs from the kernels only in fp32 summation order
/// and in exp's last bits (which can flip a bf16 rounding), so it supports a tolerance ~100x tighter than a
/// comparison against unrounded attention.
/// <para>
/// <c>plantFragmentSwap</c> models a kernel bug instead: the P fragment's registers a1 and a2 swapped, i.e. in every
/// 16 x 16 block (16 query rows of a warp, 16 keys of a chunk) rows 8..15 of columns 0..7 trade places with rows 0..7 of
/// columns 8..15. The tests check that their tolerance rejects it.
/// </para>
/// </summary>
static class TensorCoreAttentionReference
{
    const int Rows = 16, Keys = 32;

    public sealed record Result(float[] O, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    /// <summary>q, k, v already bf16-rounded; dO raw (rounded here: the kernels round it for the products and for Delta).</summary>
    public static Result Run(float[] q, float[] k, float[] v, float[] dO, int[] mask, in AttentionShape s, bool plantFragmentSwap = false)
    {
        var (o, lse) = Forward(q, k, v, mask, s, plantFragmentSwap);
        var (dq, dk, dv) = Backward(q, k, v, o, lse, dO, mask, s);
        return new Result(o, lse, dq, dk, dv);
    }

    static float Dot(float[] a, long ao, float[] b, long bo, int d)
    {
        float sum = 0f;
        for (int c = 0; c < d; c++) sum += a[ao + c] * b[bo + c];
        return sum;
    }

    static (float[] O, float[] Lse) Forward(float[] q, float[] k, float[] v, int[] mask, AttentionShape s, bool plant)
    {
        int T = s.T, D = s.D;
        var o = new float[s.Elements];
        var lse = new float[s.Rows];
        var p = new float[Rows, Keys];
        for (int bh = 0; bh < s.Batch * s.Heads; bh++)
        {
            int b = bh / s.Heads;
            long head = (long)bh * T * D;
            for (int r0 = 0; r0 < T; r0 += Rows)
            {
                var m = new float[Rows]; var l = new float[Rows]; var acc = new float[Rows, D];
                Array.Fill(m, float.NegativeInfinity);
                // The kernels' key loop ends for the whole 64-query group; rows past T have q = 0 (staged zeros).
                int kEnd = s.Causal ? Math.Min(T, r0 / 64 * 64 + 64) : T;
                for (int k0 = 0; k0 < kEnd; k0 += Keys)
                {
                    for (int r = 0; r < Rows; r++)
                    {
                        int i = r0 + r;
                        var sc = new float[Keys];
                        float mt = float.NegativeInfinity;
                        for (int c = 0; c < Keys; c++)
                        {
                            int j = k0 + c;
                            bool vis = j < T && (!s.Causal || j <= i) && (!s.HasMask || mask[b * T + j] != 0);
                            sc[c] = vis ? s.Scale * (i < T ? Dot(q, head + (long)i * D, k, head + (long)j * D, D) : 0f) : float.NegativeInfinity;
                            mt = Math.Max(mt, sc[c]);
                        }
                        float mNew = Math.Max(m[r], mt), baseR = float.IsNegativeInfinity(mNew) ? 0f : mNew, alpha = MathF.Exp(m[r] - baseR);
                        float sum = 0f;
                        for (int c = 0; c < Keys; c++) { p[r, c] = MathF.Exp(sc[c] - baseR); sum += p[r, c]; }
                        l[r] = l[r] * alpha + sum;
                        for (int d = 0; d < D; d++) acc[r, d] *= alpha;
                        m[r] = mNew;
                    }
                    for (int r = 0; r < Rows; r++)
                        for (int c = 0; c < Keys && k0 + c < T; c++)
                        {
                            var (pr, pc) = plant ? Swapped(r, c) : (r, c);
                            float pv = Bf16.Round(p[pr, pc]);
                            long vj = head + (long)(k0 + c) * D;
                            for (int d = 0; d < D; d++) acc[r, d] += pv * v[vj + d];
                        }
                }
                for (int r = 0; r < Rows && r0 + r < T; r++)
                {
                    long row = head + (long)(r0 + r) * D;
                    float inv = l[r] > 0f ? 1f / l[r] : 0f;
                    for (int d = 0; d < D; d++) o[row + d] = acc[r, d] * inv;
                    lse[(long)bh * T + r0 + r] = l[r] > 0f ? m[r] + MathF.Log(l[r]) : float.PositiveInfinity;
                }
            }
        }
        return (o, lse);
    }

    /// <summary>Where element (r, c) of a P tile comes from when the fragment registers a1 and a2 are swapped.</summary>
    static (int R, int C) Swapped(int r, int c)
    {
        int cc = c % 16;
        if (r >= 8 && cc < 8) return (r - 8, c + 8);
        if (r < 8 && cc >= 8) return (r + 8, c - 8);
        return (r, c);
    }

    static (float[] Dq, float[] Dk, float[] Dv) Backward(float[] q, float[] k, float[] v, float[] o, float[] lse, float[] dO, int[] mask, AttentionShape s)
    {
        int T = s.T, D = s.D;
        var dq = new float[s.Elements]; var dk = new float[s.Elements]; var dv = new float[s.Elements];
        var dOr = dO.Select(Bf16.Round).ToArray();
        for (int bh = 0; bh < s.Batch * s.Heads; bh++)
        {
            int b = bh / s.Heads;
            long head = (long)bh * T * D;
            for (int i = 0; i < T; i++)
            {
                long qi = head + (long)i * D;
                float delta = 0f;
                for (int d = 0; d < D; d++) delta += o[qi + d] * dOr[qi + d];
                for (int j = 0; j < T; j++)
                {
                    if ((s.Causal && j > i) || (s.HasMask && mask[b * T + j] == 0)) continue;
                    long kj = head + (long)j * D;
                    float p = MathF.Exp(s.Scale * Dot(q, qi, k, kj, D) - lse[(long)bh * T + i]);
                    float ds = p * (Dot(dOr, qi, v, kj, D) - delta);
                    float pr = Bf16.Round(p), dsr = Bf16.Round(ds);
                    for (int d = 0; d < D; d++)
                    {
                        dv[kj + d] += pr * dOr[qi + d];
                        dk[kj + d] += s.Scale * dsr * q[qi + d];
                        dq[qi + d] += s.Scale * dsr * k[kj + d];
                    }
                }
            }
        }
        return (dq, dk, dv);
    }
}
