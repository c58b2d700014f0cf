using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Cross-backend cases (through <see cref="IBackend"/>) for the similarity-loss, L2-normalise and optimizer
/// kernels; merged into <see cref="KernelCases.All"/>. Their through-the-engine test is ContrastiveKernelTests.
/// </summary>
public static class ContrastiveCases
{
    static readonly KernelCase Similarity = new(
        "CLIP loss (13 pairs, d 37, mean of directions) and classification loss (11 x 5 classes, d 19): forward and backward", s =>
        {
            var outs = new List<float[]>();
            foreach (var loss in new[] { SimilarityLoss.Contrastive(13, 37, sum: false), SimilarityLoss.Classification(11, 5, 19) })
            {
                var a = s.Rand((long)loss.N * loss.D, 0.3f); var b = s.Rand((long)loss.M * loss.D, 0.3f);
                var scale = s.Upload([1.2f]);
                DeviceBuffer<int>? labels = null;
                if (!loss.Diagonal)
                {
                    var l = new int[loss.N];
                    for (int i = 0; i < l.Length; i++) l[i] = s.Next(loss.M);
                    labels = s.Ints(l);
                }
                var logits = s.Rand((long)loss.N * loss.M); var rowLse = s.Rand(loss.N); var colLse = s.Rand(loss.M); var value = s.Rand(1);
                s.B.SimilarityLossForward(a, b, scale, labels, logits, rowLse, colLse, value, loss);
                var dloss = s.Upload([0.8f]);
                var da = s.Rand((long)loss.N * loss.D); var db = s.Rand((long)loss.M * loss.D); var dscale = s.Rand(1);
                s.B.SimilarityLossBackward(a, b, scale, labels, logits, rowLse, colLse, dloss, da, db, dscale, loss);
                outs.AddRange([s.Read(logits), s.Read(rowLse), s.Read(value), s.Read(da), s.Read(db), s.Read(dscale)]);
                if (loss.Symmetric) outs.Add(s.Read(colLse));
            }
            return outs;
        }, 2e-5, 2e-4);

    // 131 columns: more than the threads of a group, so the strided loops run twice.
    static readonly KernelCase L2 = new("L2 normalise [7,67] and [5,131] and their backward", s =>
    {
        var outs = new List<float[]>();
        foreach (var (rows, cols) in new[] { (7, 67), (5, 131) })
        {
            var x = s.Rand(rows * cols); var y = s.Rand(rows * cols); var norm = s.Rand(rows); var dy = s.Rand(rows * cols); var dx = s.Rand(rows * cols);
            s.B.L2Normalize(x, y, norm, rows, cols, 1e-6f);
            s.B.L2NormalizeBackward(y, norm, dy, dx, rows, cols, 1e-6f);
            outs.AddRange([s.Read(y), s.Read(norm), s.Read(dx)]);
        }
        return outs;
    }, 1e-6, 1e-5);

    // Ten tensors: two multi-tensor launches (8 + 2), a missing gradient (slot 0), an empty tensor, and a tensor
    // long enough for several groups of sum_squares, whose shares reduce_rows then adds in order.
    static readonly KernelCase Clip = new("sums of squares of ten tensors (one missing, one empty) in one call, then the global norm and clip coefficient", s =>
    {
        long[] lengths = [5, 1037, 300, 0, 7, 4100, 33, 1, 64, 129];
        var xs = lengths.Select((n, i) => i == 0 ? null : s.Rand(Math.Max(1, n))).ToArray();
        var partial = s.Rand(lengths.Length); var norm = s.Rand(1); var coef = s.Rand(1);
        s.B.SumSquares(xs, lengths, partial);
        s.B.ClipCoefficient(partial, lengths.Length, 1f, norm, coef);
        return [s.Read(partial), s.Read(norm), s.Read(coef)];
    }, 1e-5, 1e-5);

    public static readonly IReadOnlyDictionary<string, KernelCase> All = new Dictionary<string, KernelCase>
    {
        ["similarity_logits"] = Similarity,
        ["similarity_lse"] = Similarity,
        ["similarity_loss"] = Similarity,
        ["similarity_grad_a"] = Similarity,
        ["similarity_grad_b"] = Similarity,
        ["similarity_scale_grad"] = Similarity,
        ["l2_normalize"] = L2,
        ["l2_normalize_backward"] = L2,
        ["sum_squares"] = Clip,
        ["clip_coefficient"] = Clip,

        ["adamw_step"] = new("AdamW over ten tensors of 1 to 1037 elements (two multi-tensor launches), gradient scale 0.7, weight decay 0.1; then a clamped step", s =>
        {
            int[] lengths = [1037, 3, 64, 1, 300, 7, 129, 33, 5, 260];
            var tensors = lengths.Select(n => new AdamWTensor(s.Rand(n), s.Rand(n), s.Rand(n, 0.1f),
                s.Upload(s.Values(n, 0.1f).Select(x => x * x).ToArray()), n)).ToArray();
            var gs = s.Upload([0.7f]);
            s.B.AdamWStep(tensors, gs, new AdamWArgs(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1f - 0.729f, 1f - 0.997003f, float.NegativeInfinity, float.PositiveInfinity));
            s.B.AdamWStep(tensors, gs, new AdamWArgs(1e-1f, 0.9f, 0.999f, 1e-8f, 0f, 0.5f, 0.2f, -0.5f, 0.5f));
            return tensors.SelectMany(t => new[] { s.Read(t.P), s.Read(t.M), s.Read(t.V) }).ToList();
        }, 1e-6, 1e-5),

        ["sgd_step"] = new("plain SGD with weight decay, gradient scale 0.7", s =>
        {
            var p = s.Rand(1037); var g = s.Rand(1037); var gs = s.Upload([0.7f]);
            s.B.SgdStep(p, g, null, gs, 1037, new SgdArgs(0.1f, 0f, 0.01f, float.NegativeInfinity, float.PositiveInfinity));
            return [s.Read(p)];
        }),

        ["sgd_momentum_step"] = new("momentum SGD (0.9) twice, clamped to [-0.8, 0.8]", s =>
        {
            var p = s.Rand(1037); var g = s.Rand(1037); var vel = s.Rand(1037); var gs = s.Upload([0.7f]);
            var args = new SgdArgs(0.1f, 0.9f, 0.01f, -0.8f, 0.8f);
            s.B.SgdStep(p, g, vel, gs, 1037, args);
            s.B.SgdStep(p, g, vel, gs, 1037, args);
            return [s.Read(p), s.Read(vel)];
        }),

        ["clamp"] = new("clamp 1037 values to [-0.5, 0.3]", s =>
        {
            var y = s.Rand(1037);
            s.B.Clamp(y, 1037, -0.5f, 0.3f);
            return [s.Read(y)];
        }, 0, 0),
    };
}
