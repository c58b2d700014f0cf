using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>Scalar arguments of the similarity-loss kernels (a kernel takes values, not records with bools).</summary>
public struct SimArgs
{
    public int N, M, D;
    /// <summary>1: row i's target is i (CLIP); 0: labels[i].</summary>
    public int Diagonal;
    /// <summary>1: the column CE direction is included.</summary>
    public int Symmetric;
    public float Weight;

    public static SimArgs From(in SimilarityLoss s) =>
        new() { N = s.N, M = s.M, D = s.D, Diagonal = s.Diagonal ? 1 : 0, Symmetric = s.Symmetric ? 1 : 0, Weight = s.Weight };
}

/// <summary>
/// The similarity-loss kernel family (see <see cref="SimilarityLoss"/>). Forward: <c>similarity_logits</c>
/// (tiled t a b^T), <c>similarity_lse</c> (one group per row and per column: log-sum-exp and the CE term),
/// <c>similarity_loss</c> (one group sums the terms). Backward never materialises dL/dlogits: the two
/// embedding-gradient products recompute each G element from the saved logits and log-sum-exps as they load
/// their left tile, and <c>similarity_scale_grad</c> reduces G * logits. All products share one tile loop.
/// </summary>
public static class SimilarityKernels
{
    /// <summary>Tile edge of the products: a group is Tile x Tile threads, two Tile x Tile shared tiles.</summary>
    public const int Tile = 16;

    const int ModeLogits = 0, ModeGradA = 1, ModeGradB = 2;

    [Kernel("similarity_logits", KernelGrouping.Explicit)]
    public static void Logits(ArrayView<float> a, ArrayView<float> b, ArrayView<float> scale, ArrayView<float> logits, SimArgs s) =>
        TiledProduct(a, b, scale, default, default, default, default, default, logits, s, ModeLogits);

    [Kernel("similarity_grad_a", KernelGrouping.Explicit)]
    public static void GradA(ArrayView<float> b, ArrayView<float> scale, ArrayView<int> labels, ArrayView<float> logits,
        ArrayView<float> rowLse, ArrayView<float> colLse, ArrayView<float> dloss, ArrayView<float> da, SimArgs s) =>
        TiledProduct(default, b, scale, labels, logits, rowLse, colLse, dloss, da, s, ModeGradA);

    [Kernel("similarity_grad_b", KernelGrouping.Explicit)]
    public static void GradB(ArrayView<float> a, ArrayView<float> scale, ArrayView<int> labels, ArrayView<float> logits,
        ArrayView<float> rowLse, ArrayView<float> colLse, ArrayView<float> dloss, ArrayView<float> db, SimArgs s) =>
        TiledProduct(a, default, scale, labels, logits, rowLse, colLse, dloss, db, s, ModeGradB);

    /// <summary>Grid (ceil(cols / Tile), ceil(rows / Tile)) of (Tile, Tile) groups for a product of the given mode.</summary>
    public static (int Rows, int Cols) ProductShape(in SimArgs s, int mode) =>
        mode == ModeLogits ? (s.N, s.M) : mode == ModeGradA ? (s.N, s.D) : (s.M, s.D);

    /// <summary>
    /// out[r, c] = t * sum_k Left(r, k) Right(k, c) with t = exp(scale[0]); the mode picks the operands:
    /// logits: a[r, k] b[c, k] over D; grad a: G[r, k] b[k, c] over M; grad b: G[k, r] a[k, c] over N.
    /// </summary>
    static void TiledProduct(ArrayView<float> a, ArrayView<float> b, ArrayView<float> scale, ArrayView<int> labels,
        ArrayView<float> logits, ArrayView<float> rowLse, ArrayView<float> colLse, ArrayView<float> dloss,
        ArrayView<float> output, SimArgs s, int mode)
    {
        var left = SharedMemory.Allocate<float>(Tile * Tile);
        var right = SharedMemory.Allocate<float>(Tile * Tile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * Tile + ty, col = Grid.IdxX * Tile + tx;
        int rows = mode == ModeLogits ? s.N : mode == ModeGradA ? s.N : s.M;
        int cols = mode == ModeLogits ? s.M : s.D;
        int inner = mode == ModeLogits ? s.D : mode == ModeGradA ? s.M : s.N;
        float t = MathF.Exp(scale[0]);
        var coef = Coefficients(dloss, s, mode);
        float acc = 0f;
        for (int k0 = 0; k0 < inner; k0 += Tile)
        {
            int lk = k0 + tx, rk = k0 + ty;
            float lv = 0f, rv = 0f;
            if (row < rows && lk < inner)
                lv = mode == ModeLogits ? a[row * (long)s.D + lk]
                    : mode == ModeGradA ? G(row, lk, labels, logits, rowLse, colLse, s, coef)
                    : G(lk, row, labels, logits, rowLse, colLse, s, coef);
            if (rk < inner && col < cols)
                rv = mode == ModeLogits ? b[col * (long)s.D + rk]
                    : mode == ModeGradA ? b[rk * (long)s.D + col]
                    : a[rk * (long)s.D + col];
            left[ty * Tile + tx] = lv;
            right[ty * Tile + tx] = rv;
            Group.Barrier();
            // Unrolled by four by hand: ILGPU 1.5.3 does not unroll loops.
            for (int k = 0; k < Tile; k += 4)
            {
                acc += left[ty * Tile + k] * right[k * Tile + tx];
                acc += left[ty * Tile + k + 1] * right[(k + 1) * Tile + tx];
                acc += left[ty * Tile + k + 2] * right[(k + 2) * Tile + tx];
                acc += left[ty * Tile + k + 3] * right[(k + 3) * Tile + tx];
            }
            Group.Barrier();
        }
        if (row < rows && col < cols) output[row * (long)cols + col] = t * acc;
    }

    /// <summary>(cr, cc): the per-direction factors dloss * weight / count (cc = 0 without the column direction).</summary>
    static (float Row, float Col) Coefficients(ArrayView<float> dloss, in SimArgs s, int mode)
    {
        if (mode == ModeLogits) return (0f, 0f);
        float g = dloss[0] * s.Weight;
        return (g / s.N, s.Symmetric != 0 ? g / s.M : 0f);
    }

    /// <summary>dloss/dlogits[i, j] = cr (softmax_row - onehot(target_i)) + cc (softmax_col - onehot(j == i)).</summary>
    static float G(int i, int j, ArrayView<int> labels, ArrayView<float> logits, ArrayView<float> rowLse, ArrayView<float> colLse,
        in SimArgs s, (float Row, float Col) c)
    {
        float l = logits[i * (long)s.M + j];
        int target = s.Diagonal != 0 ? i : labels[i];
        float g = c.Row * (MathF.Exp(l - rowLse[i]) - (j == target ? 1f : 0f));
        if (s.Symmetric != 0) g += c.Col * (MathF.Exp(l - colLse[j]) - (i == j ? 1f : 0f));
        return g;
    }

    /// <summary>
    /// Groups 0..N-1 take rows, groups N..N+M-1 (symmetric only) take columns: lse of the line and its CE
    /// term lse - logit[target] into terms[group].
    /// </summary>
    [Kernel("similarity_lse", KernelGrouping.Explicit)]
    public static void Lse(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLse, ArrayView<float> colLse,
        ArrayView<float> terms, SimArgs s)
    {
        int g = Grid.IdxX;
        bool isRow = g < s.N;
        int line = isRow ? g : g - s.N;
        int length = isRow ? s.M : s.N;
        long start = isRow ? line * (long)s.M : line, stride = isRow ? 1 : s.M;
        float max = float.NegativeInfinity;
        for (int k = Group.IdxX; k < length; k += Group.DimX) max = MathF.Max(max, logits[start + k * stride]);
        max = GroupReduce.AllMax(max);
        float sum = 0f;
        for (int k = Group.IdxX; k < length; k += Group.DimX) sum += MathF.Exp(logits[start + k * stride] - max);
        sum = GroupReduce.AllSum(sum);
        if (Group.IdxX == 0)
        {
            float lse = max + MathF.Log(sum);
            int target = isRow ? (s.Diagonal != 0 ? line : labels[line]) : line;
            float picked = isRow ? logits[line * (long)s.M + target] : logits[target * (long)s.M + line];
            if (isRow) rowLse[line] = lse; else colLse[line] = lse;
            terms[g] = lse - picked;
        }
    }

    /// <summary>One group: loss[0] = weight (sum of row terms / N + sum of column terms / M).</summary>
    [Kernel("similarity_loss", KernelGrouping.Explicit)]
    public static void Loss(ArrayView<float> terms, ArrayView<float> loss, SimArgs s)
    {
        float r = 0f, c = 0f;
        for (int k = Group.IdxX; k < s.N; k += Group.DimX) r += terms[k];
        r = GroupReduce.AllSum(r);
        if (s.Symmetric != 0)
        {
            for (int k = Group.IdxX; k < s.M; k += Group.DimX) c += terms[s.N + k];
            c = GroupReduce.AllSum(c);
        }
        if (Group.IdxX == 0) loss[0] = s.Weight * (r / s.N + (s.Symmetric != 0 ? c / s.M : 0f));
    }

    /// <summary>One group: dscale[0] = sum over i, j of G[i, j] logits[i, j] (d loss / d s, since d logits / d s = logits).</summary>
    [Kernel("similarity_scale_grad", KernelGrouping.Explicit)]
    public static void ScaleGrad(ArrayView<int> labels, ArrayView<float> logits, ArrayView<float> rowLse, ArrayView<float> colLse,
        ArrayView<float> dloss, ArrayView<float> dscale, SimArgs s)
    {
        var coef = Coefficients(dloss, s, ModeGradA);
        long total = (long)s.N * s.M;
        float acc = 0f;
        for (long k = Group.IdxX; k < total; k += Group.DimX)
        {
            int i = (int)(k / s.M), j = (int)(k - (long)i * s.M);
            acc += G(i, j, labels, logits, rowLse, colLse, s, coef) * logits[k];
        }
        acc = GroupReduce.AllSum(acc);
        if (Group.IdxX == 0) dscale[0] = acc;
    }
}
