using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using static Cleft.Kernels.Cpu.AttentionTile;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Flash-attention tiling on the host. The forward walks blocks of <see cref="Bq"/> queries over blocks of
/// <see cref="Bk"/> keys with an online softmax (running max and sum per row), so only Bq x Bk scores exist
/// at a time; the backward recomputes each tile's probabilities from the saved row log-sum-exp. Working
/// memory is per-thread scratch of O(T D) floats, never T x T.
/// Determinism: a forward or backward task owns one (batch, head);
/// each writes only its own outputs and accumulates in a fixed order.
/// Operands are read and written through their <see cref="AttentionLayout"/>: every tile is packed from rows anyway,
/// so heads inside a [B, T, C] linear output cost the same as split [B, H, T, D] heads, minus the split's copy.
/// </summary>
static unsafe class CpuAttention
{
    public const int Bq = 64, Bk = 64;

    [ThreadStatic] static float[]? _scratch;

    static float[] Scratch(long floats)
    {
        if (_scratch is null || _scratch.Length < floats) _scratch = GC.AllocateUninitializedArray<float>((int)floats, pinned: true);
        return _scratch;
    }

    /// <summary>
    /// Copies <paramref name="rows"/> rows of D values (row i at srcOff + i stride: an operand's layout) into a
    /// [*, Dp] tile, zeroing the padding columns and rows up to padRows.
    /// </summary>
    static void PackRows(float[] src, long srcOff, long stride, int rows, int padRows, int D, float* dst, int Dp)
    {
        for (int i = 0; i < padRows; i++)
        {
            var d = new Span<float>(dst + (long)i * Dp, Dp);
            if (i < rows) { src.AsSpan((int)(srcOff + i * stride), D).CopyTo(d); d[D..].Clear(); }
            else d.Clear();
        }
    }

    /// <summary>
    /// Transposes <paramref name="rows"/> rows of D values (row j at srcOff + j stride) into dst[d * ld + j],
    /// zeroing columns rows..ld (the GEMM's transposing pack: 4 x 4 SIMD blocks).
    /// </summary>
    static void PackTransposed(float[] src, long srcOff, long stride, int rows, int D, float* dst, int ld)
    {
        fixed (float* s = src) CpuGemm.Interleave(s + srcOff, (nint)stride, rows, ld, D, 1f, dst);
    }

    // The per-row softmax steps, one pass each over a row of whole vectors (width is a multiple of W). Written as
    // loops rather than a chain of TensorPrimitives calls: at T = 201 a row is 13 vectors, and seven calls per row cost
    // more than the arithmetic. exp is CpuExp's (inlined, single precision) and taken of max(x, -80): visible entries
    // are <= 0 here (scores minus the running max or the lse), so only probabilities below 2e-35 change.

    /// <summary>row = scale row (hidden keys are -inf and stay so); returns the row's max.</summary>
    static float ScaleMax(float* row, int width, float scale)
    {
        var sv = Vector512.Create(scale);
        var mv = Vector512.Create(float.NegativeInfinity);
        for (int j = 0; j < width; j += W)
        {
            var x = Vector512.Load(row + j) * sv;
            x.Store(row + j);
            mv = Vector512.Max(mv, x);
        }
        return MaxOf(mv);
    }

    static float MaxOf(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        return Math.Max(Math.Max(q[0], q[1]), Math.Max(q[2], q[3]));
    }

    /// <summary>row = exp(row - m), 0 where row is -inf (a hidden key); returns the row's sum.</summary>
    static float ExpSum(float* row, int width, float m)
    {
        var mv = Vector512.Create(m);
        var floor = Vector512.Create(-80f);
        var hidden = Vector512.Create(float.NegativeInfinity);
        var sum = Vector512<float>.Zero;
        for (int j = 0; j < width; j += W)
        {
            var x = Vector512.Load(row + j);
            var e = Lanes512.Exp(Lanes512.Max(floor, x - mv));
            e = Vector512.ConditionalSelect(Vector512.Equals(x, hidden), Vector512<float>.Zero, e);
            e.Store(row + j);
            sum += e;
        }
        return Vector512.Sum(sum);
    }

    /// <summary>row = exp(scale row - lse): the probabilities again from the saved row log-sum-exp.</summary>
    static void Probabilities(float* row, int width, float scale, float lse)
    {
        var sv = Vector512.Create(scale);
        var lv = Vector512.Create(lse);
        var floor = Vector512.Create(-80f);
        for (int j = 0; j < width; j += W)
            Lanes512.Exp(Lanes512.Max(floor, Vector512.Load(row + j) * sv - lv)).Store(row + j);
    }

    /// <summary>dS = P (dP - Delta), in place over dP.</summary>
    static void ScoreGradient(float* dp, float* p, int width, float delta)
    {
        var dv = Vector512.Create(delta);
        for (int j = 0; j < width; j += W)
            ((Vector512.Load(dp + j) - dv) * Vector512.Load(p + j)).Store(dp + j);
    }

    /// <summary>
    /// The forward of one (batch, head): K^T and V are packed once, whole, then every query block walks them. (Packed
    /// per query block instead, T = 201 repacked them 4 times, about a fifth of the op's time.) The tiles see exactly
    /// the values the per-block packing gave them: key columns past a block's end are overwritten by ApplyVisibility.
    /// </summary>
    public static void ForwardHead(float[] q, float[] k, float[] v, int[] mask, float[] o, float[] lse, in AttentionShape s, int bh)
    {
        int T = s.T, D = s.D, Dp = RoundUp(D, W), Tp = RoundUp(T, W), b = bh / s.Heads, h = bh % s.Heads;
        int keys = KeyEnd(mask, b, s);
        var buf = Scratch((long)Bq * Dp * 2 + 2L * Dp * Tp + (long)Bq * Bk + 2 * Bq);
        fixed (float* p = buf)
        {
            float* kt = p, vs = kt + (long)Dp * Tp, work = vs + (long)Tp * Dp;
            PackTransposed(k, s.K.Row(b, h, 0), s.K.RowStride, keys, D, kt, Tp);
            PackRows(v, s.V.Row(b, h, 0), s.V.RowStride, keys, keys, D, vs, Dp);
            for (int q0 = 0; q0 < T; q0 += Bq) ForwardBlock(q, mask, o, lse, s, bh, q0, keys, kt, Tp, vs, work);
        }
    }

    /// <summary>Queries [q0, q0 + Bq) of one head over its packed K^T (row stride ldk) and V; work holds the block's tiles.</summary>
    static void ForwardBlock(float[] q, int[] mask, float[] o, float[] lse, in AttentionShape s, int bh, int q0, int keys,
        float* ktAll, int ldk, float* vsAll, float* work)
    {
        int T = s.T, D = s.D, Dp = RoundUp(D, W), b = bh / s.Heads, h = bh % s.Heads;
        int qn = Math.Min(Bq, T - q0), mr = RoundUp(qn, 4);
        int keyEnd = keys;
        if (s.Causal) keyEnd = Math.Min(keyEnd, q0 + qn);
        ReadOnlySpan<int> maskRow = s.HasMask ? mask.AsSpan(b * T, T) : default;
        float* qs = work, oacc = qs + Bq * Dp, sc = oacc + Bq * Dp, m = sc + Bq * Bk, l = m + Bq;
        PackRows(q, s.Q.Row(b, h, q0), s.Q.RowStride, qn, mr, D, qs, Dp);
        new Span<float>(oacc, mr * Dp).Clear();
        new Span<float>(m, Bq).Fill(float.NegativeInfinity);
        new Span<float>(l, Bq).Clear();
        for (int k0 = 0; k0 < keyEnd; k0 += Bk)
        {
            int kn = Math.Min(Bk, keyEnd - k0), nv = (kn + W - 1) / W, width = nv * W;
            float* vs = vsAll + (long)k0 * Dp;
            Mac(qs, Dp, 1, ktAll + k0, ldk, sc, Bk, mr, D, nv, accumulate: false);
            // Hidden keys go to -inf before scaling (the scale is positive, so they stay -inf).
            ApplyVisibility(sc, Bk, qn, width, q0, k0, kn, maskRow, s, float.NegativeInfinity);
            for (int i = 0; i < qn; i++)
            {
                float* row = sc + i * Bk;
                float mNew = Math.Max(m[i], ScaleMax(row, width, s.Scale));
                if (float.IsNegativeInfinity(mNew)) { new Span<float>(row, width).Clear(); continue; } // nothing visible yet in this row
                float alpha = MathF.Exp(m[i] - mNew); // 0 on the first visible tile (m = -inf)
                l[i] = l[i] * alpha + ExpSum(row, width, mNew);
                if (alpha != 1f && !float.IsNegativeInfinity(m[i])) TensorPrimitives.Multiply(new Span<float>(oacc + i * Dp, Dp), alpha, new Span<float>(oacc + i * Dp, Dp));
                m[i] = mNew;
            }
            // Padding rows qn..mr hold Qs = 0 scores (finite): they only feed padding rows of oacc.
            Mac(sc, Bk, 1, vs, Dp, oacc, Dp, mr, kn, Dp / W, accumulate: true);
        }
        for (int i = 0; i < qn; i++)
        {
            var dst = o.AsSpan((int)s.O.Row(b, h, q0 + i), D);
            long row = (long)bh * T + q0 + i;
            if (l[i] > 0f)
            {
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(oacc + i * Dp, D), 1f / l[i], dst);
                lse[row] = m[i] + MathF.Log(l[i]);
            }
            else { dst.Clear(); lse[row] = float.PositiveInfinity; }
        }
    }

    public static void BackwardHead(float[] q, float[] k, float[] v, int[] mask, float[] o, float[] lse, float[] dO,
        float[] dq, float[] dk, float[] dv, in AttentionShape s, int bh)
    {
        int T = s.T, D = s.D, Dp = RoundUp(D, W), Tp = RoundUp(T, W), b = bh / s.Heads, h = bh % s.Heads;
        long tile = (long)Tp * Dp;
        AttentionLayout lq = s.Q, lk = s.K, lv = s.V, lo = s.O;
        int keyEnd = KeyEnd(mask, b, s);
        ReadOnlySpan<int> maskRow = s.HasMask ? mask.AsSpan(b * T, T) : default;
        var lseRow = lse.AsSpan((int)((long)bh * T), T);

        var buf = Scratch(6 * tile + 2L * D * Tp + 2L * Bq * Bk + Tp);
        fixed (float* p = buf)
        {
            float* qs = p, ks = qs + tile, dos = ks + tile, dQ = dos + tile, dK = dQ + tile, dV = dK + tile;
            float* kt = dV + tile, vt = kt + (long)D * Tp, sc = vt + (long)D * Tp, dp = sc + Bq * Bk, delta = dp + Bq * Bk;
            PackRows(q, lq.Row(b, h, 0), lq.RowStride, T, Tp, D, qs, Dp);
            PackRows(k, lk.Row(b, h, 0), lk.RowStride, T, Tp, D, ks, Dp);
            PackRows(dO, lo.Row(b, h, 0), lo.RowStride, T, Tp, D, dos, Dp);
            PackTransposed(k, lk.Row(b, h, 0), lk.RowStride, T, D, kt, Tp);
            PackTransposed(v, lv.Row(b, h, 0), lv.RowStride, T, D, vt, Tp);
            new Span<float>(dQ, (int)(3 * tile)).Clear();
            for (int i = 0; i < T; i++)
                delta[i] = TensorPrimitives.Dot(dO.AsSpan((int)lo.Row(b, h, i), D), o.AsSpan((int)lo.Row(b, h, i), D));

            for (int k0 = 0; k0 < keyEnd; k0 += Bk)
            {
                int kn = Math.Min(Bk, keyEnd - k0), nv = (kn + W - 1) / W, width = nv * W, kr = RoundUp(kn, 4);
                // Causal: queries before k0 see none of these keys.
                for (int q0 = s.Causal ? k0 : 0; q0 < T; q0 += Bq)
                {
                    int qn = Math.Min(Bq, T - q0), mr = RoundUp(qn, 4);
                    Mac(qs + (long)q0 * Dp, Dp, 1, kt + k0, Tp, sc, Bk, mr, D, nv, accumulate: false);
                    for (int i = 0; i < mr; i++)
                    {
                        if (i >= qn) { new Span<float>(sc + i * Bk, width).Clear(); continue; }
                        // P = exp(scale s - lse); lse = +inf (no visible key) gives 0.
                        Probabilities(sc + i * Bk, width, s.Scale, lseRow[q0 + i]);
                    }
                    ApplyVisibility(sc, Bk, qn, width, q0, k0, kn, maskRow, s, 0f);
                    Mac(dos + (long)q0 * Dp, Dp, 1, vt + k0, Tp, dp, Bk, mr, D, nv, accumulate: false);
                    Mac(sc, 1, Bk, dos + (long)q0 * Dp, Dp, dV + (long)k0 * Dp, Dp, kr, qn, Dp / W, accumulate: true);
                    for (int i = 0; i < mr; i++)
                    {
                        if (i >= qn) { new Span<float>(dp + i * Bk, width).Clear(); continue; }
                        ScoreGradient(dp + i * Bk, sc + i * Bk, width, delta[q0 + i]);
                    }
                    Mac(dp, 1, Bk, qs + (long)q0 * Dp, Dp, dK + (long)k0 * Dp, Dp, kr, qn, Dp / W, accumulate: true);
                    Mac(dp, Bk, 1, ks + (long)k0 * Dp, Dp, dQ + (long)q0 * Dp, Dp, mr, kn, Dp / W, accumulate: true);
                }
            }
            for (int i = 0; i < T; i++)
            {
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(dQ + (long)i * Dp, D), s.Scale, dq.AsSpan((int)lq.Row(b, h, i), D));
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(dK + (long)i * Dp, D), s.Scale, dk.AsSpan((int)lk.Row(b, h, i), D));
                new ReadOnlySpan<float>(dV + (long)i * Dp, D).CopyTo(dv.AsSpan((int)lv.Row(b, h, i), D));
            }
        }
    }
}
