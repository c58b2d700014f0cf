using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// One cross-backend case per ILGPU kernel, keyed by catalogue name. Shapes are odd on purpose (7 x 67 rows,
/// 37 x 53 x 29 GEMMs in batches of 3) so nothing divides a tile, a warp or a group. A kernel added to the
/// catalogue without an entry here fails <see cref="CrossBackendTests"/>.
/// </summary>
public static class KernelCases
{
    const int R = 7, C = 67; // the usual [rows, cols]: 67 is prime and over two warps

    // Helpers first: static fields initialise in textual order and All uses them.
    static readonly Broadcast[] Broadcasts = [Broadcast.Same(R * C), Broadcast.Row(C), Broadcast.PerRow(R, C), Broadcast.Scalar];
    static readonly (int Rows, int Cols)[] RowShapes = [(R, C), (3, 300)];

    static int[] Ids(KernelCaseSession s, int count, int vocab)
    {
        var ids = new int[count];
        for (int i = 0; i < count; i++) ids[i] = s.Next(vocab);
        ids[count - 1] = ids[0]; // at least one repeat
        return ids;
    }

    // 130 rows: three row blocks of the column reduction, so its second pass (adding block partials) runs too.
    static readonly KernelCase LayerNormBackwardCase = new("layer norm backward (dx, dgamma, dbeta) of [7,67], [40,37] and [130,37]", s =>
    {
        var outs = new List<float[]>();
        foreach (var (rows, cols) in new[] { (R, C), (40, 37), (130, 37) })
        {
            var x = s.Rand(rows * cols, 2f); var g = s.Rand(cols); var b = s.Rand(cols);
            var y = s.Rand(rows * cols); var mean = s.Rand(rows); var rstd = s.Rand(rows);
            s.B.LayerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5f);
            var dy = s.Rand(rows * cols); var dx = s.Rand(rows * cols); var dg = s.Rand(cols); var db = s.Rand(cols);
            s.B.LayerNormBackward(x, g, mean, rstd, dy, dx, dg, db, rows, cols);
            outs.AddRange([s.Read(dx), s.Read(dg), s.Read(db)]);
        }
        return outs;
    }, 1e-4, 1e-4);

    static (DeviceBuffer<float>, DeviceBuffer<int>, DeviceBuffer<float>, DeviceBuffer<float>, DeviceBuffer<float>) CrossEntropyForward(
        KernelCaseSession s, int rows, int classes, bool ignoreAll = false)
    {
        var logits = s.Rand(rows * classes, 3f);
        var t = new int[rows];
        for (int r = 0; r < rows; r++) t[r] = ignoreAll || r == 2 ? -100 : s.Next(classes);
        var targets = s.Ints(t);
        var lse = s.Rand(rows); var loss = s.Rand(1); var count = s.Rand(1);
        s.B.CrossEntropy(logits, targets, lse, loss, count, rows, classes, -100);
        return (logits, targets, lse, loss, count);
    }

    static readonly KernelCase CrossEntropyCase = new("row log-sum-exp, mean loss and count of [7,67] (one ignored row) and of all-ignored rows", s =>
    {
        var (_, _, lse, loss, count) = CrossEntropyForward(s, R, C);
        var (_, _, _, loss0, count0) = CrossEntropyForward(s, 5, 11, ignoreAll: true);
        return [s.Read(lse), s.Read(loss), s.Read(count), s.Read(loss0), s.Read(count0)];
    }, 1e-5, 1e-5);

    /// <summary>Every case: the core ops below plus <see cref="ContrastiveCases"/> (similarity loss, L2 norm, optimizers).</summary>
    public static readonly IReadOnlyDictionary<string, KernelCase> All =
        Core().Concat(ContrastiveCases.All).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>
    /// Ops built from other kernels (no kernel of their own; on the ILGPU backend, interface defaults the managed
    /// backend fuses), with the kernels each must launch.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (KernelCase Case, string[] Launches)> Composed =
        new Dictionary<string, (KernelCase, string[])>
        {
            ["LoraDown"] = (LoraKernelCases.Down, ["dropout", "gemm"]),
            ["LoraGradA"] = (LoraKernelCases.GradA, ["dropout", "gemm", "reduce_cols"]),
            ["LoraGradX"] = (LoraKernelCases.GradX, ["dropout", "gemm", "axpy"]),
            ["GemmHalfBBias"] = (LoraKernelCases.GemmHalfBBias, ["gemm_half_b", "binary"]),
            ["MulRowBackward"] = (new("LayerScale's gradients on [7,67], with and without da", s =>
            {
                var outs = new List<float[]>();
                foreach (bool withDa in new[] { true, false })
                {
                    var a = s.Rand(R * C); var b = s.Rand(C); var dy = s.Rand(R * C); var da = s.Rand(R * C); var db = s.Rand(C);
                    s.B.MulRowBackward(a, b, dy, withDa ? da : null, db, R, C);
                    outs.Add(s.Read(da));
                    outs.Add(s.Read(db));
                }
                return outs;
            }, 1e-6, 1e-5), ["binary", "binary_grad_b", "reduce_cols"]),
            ["AddScaledRows"] = (new("residual + branch * scale on [7,67]", s =>
            {
                var x = s.Rand(R * C); var m = s.Rand(R * C); var b = s.Rand(C); var y = s.Rand(R * C);
                s.B.AddScaledRows(x, m, b, y, R, C);
                return [s.Read(y)];
            }, 0, 0), ["binary"]),
        };

    static Dictionary<string, KernelCase> Core() => new()
    {
        ["fill"] = new("Fill 1037 elements", s =>
        {
            var y = s.Rand(1037);
            s.B.Fill(y, 1037, 0.37f);
            return [s.Read(y)];
        }, 0, 0),

        ["binary"] = new("add/sub/mul/div x same/row/per-row/scalar broadcasts on [7,67]", s =>
        {
            var outs = new List<float[]>();
            foreach (var op in Enum.GetValues<BinaryOp>())
                foreach (var bc in Broadcasts)
                {
                    var a = s.Rand(R * C); var b = s.Rand(bc.Modulus); var y = s.Rand(R * C);
                    s.B.Binary(op, a, b, y, R * C, bc);
                    outs.Add(s.Read(y));
                    s.B.Binary(op, a, b, a, R * C, bc); // y aliasing a is allowed
                    outs.Add(s.Read(a));
                }
            return outs;
        }),

        ["binary_grad_b"] = new("gradient contributions for every op and broadcast", s =>
        {
            var outs = new List<float[]>();
            foreach (var op in Enum.GetValues<BinaryOp>())
                foreach (var bc in Broadcasts)
                {
                    var a = s.Rand(R * C); var b = s.Rand(bc.Modulus); var dy = s.Rand(R * C); var g = s.Rand(R * C);
                    s.B.BinaryGradB(op, a, b, dy, g, R * C, bc);
                    outs.Add(s.Read(g));
                }
            return outs;
        }, 1e-6, 1e-5),

        ["axpy"] = new("y += 0.7 x over 1037", s =>
        {
            var x = s.Rand(1037); var y = s.Rand(1037);
            s.B.Axpy(0.7f, x, y, 1037);
            return [s.Read(y)];
        }),

        ["scale"] = new("y = -1.3 x, and in place", s =>
        {
            var x = s.Rand(1037); var y = s.Rand(1037);
            s.B.Scale(-1.3f, x, y, 1037);
            s.B.Scale(0.5f, x, x, 1037);
            return [s.Read(y), s.Read(x)];
        }),

        ["gelu"] = new("GELU (tanh form) on +-3", s =>
        {
            var x = s.Rand(1037, 3f); var y = s.Rand(1037);
            s.B.Gelu(x, y, 1037);
            return [s.Read(y)];
        }, 1e-6, 1e-5),

        ["gelu_backward"] = new("GELU derivative times dy on +-3", s =>
        {
            var x = s.Rand(1037, 3f); var dy = s.Rand(1037); var dx = s.Rand(1037);
            s.B.GeluBackward(x, dy, dx, 1037);
            return [s.Read(dx)];
        }, 1e-6, 1e-5),

        ["gelu_erf"] = new("exact (erf) GELU on +-3", s =>
        {
            var x = s.Rand(1037, 3f); var y = s.Rand(1037);
            s.B.GeluErf(x, y, 1037);
            return [s.Read(y)];
        }, 1e-6, 1e-5),

        ["gelu_erf_backward"] = new("exact GELU derivative times dy on +-3", s =>
        {
            var x = s.Rand(1037, 3f); var dy = s.Rand(1037); var dx = s.Rand(1037);
            s.B.GeluErfBackward(x, dy, dx, 1037);
            return [s.Read(dx)];
        }, 1e-6, 1e-5),

        ["dropout"] = new("p = 0.3 and p = 0.9: the same mask on both devices", s =>
        {
            var x = s.Rand(1037); var y = s.Rand(1037); var z = s.Rand(1037);
            s.B.Dropout(x, y, 1037, 0.3f, 1234UL);
            s.B.Dropout(x, z, 1037, 0.9f, 99UL);
            return [s.Read(y), s.Read(z)];
        }, 0, 1e-7),

        ["broadcast_to"] = new("row, per-row and scalar broadcasts to [7,67]", s =>
        {
            var outs = new List<float[]>();
            foreach (var bc in Broadcasts)
            {
                var x = s.Rand(bc.Modulus); var y = s.Rand(R * C);
                s.B.BroadcastTo(x, y, R * C, bc);
                outs.Add(s.Read(y));
            }
            return outs;
        }, 0, 0),

        ["reduce_rows"] = new("sum last axis of [7,67] and of [3,300], total of 469, middle axis of [3,5,11]", s =>
        {
            var outs = new List<float[]>();
            foreach (var (n, bc) in new (long, Broadcast)[]
                     { (R * C, Broadcast.PerRow(R, C)), (900, Broadcast.PerRow(3, 300)), (R * C, Broadcast.Scalar), (165, new Broadcast(11, 5)) })
            {
                var x = s.Rand(n); var y = s.Rand(bc.Modulus);
                s.B.ReduceTo(x, y, n, bc);
                outs.Add(s.Read(y));
            }
            return outs;
        }, 1e-5, 1e-5),

        ["reduce_cols"] = new("column sums of [7,67], [130,37] (three row blocks and their second pass) and [1,5]", s =>
        {
            var outs = new List<float[]>();
            foreach (var (rows, cols) in new[] { (R, C), (130, 37), (1, 5) })
            {
                var x = s.Rand(rows * cols); var y = s.Rand(cols);
                s.B.ReduceTo(x, y, rows * cols, Broadcast.Row(cols));
                outs.Add(s.Read(y));
            }
            return outs;
        }, 1e-5, 1e-5),

        ["gemm"] = new("[37,53]x[53,29] batch 3, every transpose combination, beta 0 and 0.5, alpha 1.3; broadcast B; " +
                       "overlapping C (stride 0, beta 1); a multi-tile [130,70]x[70,150]", GemmCases.Run, 1e-4, 1e-4),

        ["softmax"] = new("softmax and log-softmax of [7,67] and [3,300] (rows longer than a group)", s =>
        {
            var outs = new List<float[]>();
            foreach (var (rows, cols) in RowShapes)
                foreach (bool log in new[] { false, true })
                {
                    var x = s.Rand(rows * cols, 4f); var y = s.Rand(rows * cols);
                    s.B.Softmax(x, y, rows, cols, log);
                    outs.Add(s.Read(y));
                }
            return outs;
        }, 1e-6, 1e-5),

        ["softmax_backward"] = new("softmax and log-softmax backward of [7,67] and [3,300]", s =>
        {
            var outs = new List<float[]>();
            foreach (var (rows, cols) in RowShapes)
                foreach (bool log in new[] { false, true })
                {
                    var x = s.Rand(rows * cols, 4f); var y = s.Rand(rows * cols); var dy = s.Rand(rows * cols); var dx = s.Rand(rows * cols);
                    s.B.Softmax(x, y, rows, cols, log);
                    s.B.SoftmaxBackward(y, dy, dx, rows, cols, log);
                    outs.Add(s.Read(dx));
                }
            return outs;
        }, 1e-5, 1e-4),

        ["layernorm"] = new("layer norm of [7,67] and [3,300] with gamma, beta; mean and rstd", s =>
        {
            var outs = new List<float[]>();
            foreach (var (rows, cols) in RowShapes)
            {
                var x = s.Rand(rows * cols, 2f); var g = s.Rand(cols); var b = s.Rand(cols);
                var y = s.Rand(rows * cols); var mean = s.Rand(rows); var rstd = s.Rand(rows);
                s.B.LayerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5f);
                outs.AddRange([s.Read(y), s.Read(mean), s.Read(rstd)]);
            }
            return outs;
        }, 1e-5, 1e-4),

        ["layernorm_backward"] = LayerNormBackwardCase,
        ["layernorm_param_grad"] = LayerNormBackwardCase,

        ["embedding_forward"] = new("29 lookups (repeated ids) in a 13 x 67 table", s =>
        {
            var w = s.Rand(13 * C); var ids = s.Ints(Ids(s, 29, 13)); var y = s.Rand(29 * C);
            s.B.EmbeddingForward(w, ids, y, 29, C);
            return [s.Read(y)];
        }, 0, 0),

        ["embedding_backward"] = new("scatter-add of 29 rows with repeated ids into a non-zero 13 x 67 gradient", s =>
        {
            var dy = s.Rand(29 * C); var ids = s.Ints(Ids(s, 29, 13)); var dw = s.Rand(13 * C);
            s.B.EmbeddingBackward(dy, ids, dw, 29, C);
            return [s.Read(dw)];
        }, 1e-6, 1e-5),

        ["cross_entropy_rows"] = CrossEntropyCase,
        ["cross_entropy_loss"] = CrossEntropyCase,

        ["cross_entropy_backward"] = new("dlogits of [7,67] with one ignored row, dloss 1.7", s =>
        {
            var (logits, targets, lse, loss, count) = CrossEntropyForward(s, R, C);
            var dloss = s.Upload([1.7f]); var dlogits = s.Rand(R * C);
            s.B.CrossEntropyBackward(logits, targets, lse, dloss, count, dlogits, R, C, -100);
            return [s.Read(dlogits), s.Read(loss)];
        }, 1e-6, 1e-5),

        ["permute"] = new("[3,5,7,2] permuted [2,0,3,1] and a rank-6 permutation", s =>
        {
            var x = s.Rand(210); var y = s.Rand(210);
            s.B.Permute(x, y, 210, PermuteArgs.Create([3, 5, 7, 2], [2, 0, 3, 1]));
            var x6 = s.Rand(2 * 3 * 1 * 5 * 2 * 3); var y6 = s.Rand(180);
            s.B.Permute(x6, y6, 180, PermuteArgs.Create([2, 3, 1, 5, 2, 3], [5, 3, 0, 4, 2, 1]));
            return [s.Read(y), s.Read(y6)];
        }, 0, 0),

        // LoRA / IA3 / fp16 weights (LoraKernelCases.cs).
        ["gemm_half_b"] = LoraKernelCases.GemmHalfB,
        ["gemm_bf16_mma"] = TensorCoreCases.GemmBf16, // TensorCoreCases.cs
        ["ia3_grad_l"] = LoraKernelCases.Ia3,

        ["copy_block"] = new("5 runs of 31 from [7,67] at offset 3 into stride 40 at offset 2", s =>
        {
            var src = s.Rand(R * C); var dst = s.Rand(5 * 40 + 2);
            s.B.CopyBlock(src, 3, C, dst, 2, 40, 5, 31);
            return [s.Read(dst)];
        }, 0, 0),

        ["attention_forward"] = AttentionCases.Case,
        ["attention_delta"] = AttentionCases.Case,
        ["attention_backward_dkdv"] = AttentionCases.Case,
        ["attention_backward_dq"] = AttentionCases.Case,
        ["attention_forward_bf16_mma"] = TensorCoreAttentionCases.Case, // TensorCoreAttentionCases.cs
        ["attention_backward_dkdv_bf16_mma"] = TensorCoreAttentionCases.Case,
        ["attention_backward_dq_bf16_mma"] = TensorCoreAttentionCases.Case,
    };

}
