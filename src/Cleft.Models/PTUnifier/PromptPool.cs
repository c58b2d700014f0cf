using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// One PTUnifier prompt pool: P learnable rows of width d, initialised N(0, 0.02). A query [B, d] (the mean
/// embedding of the modality that is present) scores every row by dot product; the <see cref="TopK"/> best rows,
/// in pool order, become the missing modality's pseudo tokens [B, k, d]. The choice itself is not differentiable (it is
/// made on the host from scores computed without a graph), but the chosen rows are gathered with an embedding lookup,
/// so the loss's gradient reaches them — the released code selects under no_grad and its pools never learn.
/// Parameter name: "prompts".
/// </summary>
public sealed class PromptPool : Module
{
    public PromptPool(IBackend device, Rng rng, int size, int dim, int topK)
    {
        if (size <= 0 || dim <= 0 || topK <= 0 || topK > size)
            throw new ArgumentException($"PromptPool: need size > 0, dim > 0 and 1 <= top-k <= size, got size {size}, dim {dim}, top-k {topK}");
        TopK = topK;
        Prompts = AddParameter("prompts", Parameter.Normal(device, rng, 0.02f, size, dim));
    }

    public Parameter Prompts { get; }
    public int TopK { get; }
    public int Size => Prompts.Shape[0];
    public int Dim => Prompts.Shape[1];

    /// <summary>Row indices [B, k] of the best-scoring rows per query, in ascending row order (ties: the lower index wins).</summary>
    public int[] Select(Tensor query)
    {
        if (query.Rank != 2 || query.Dim(1) != Dim)
            throw new ArgumentException($"PromptPool: the query must be [batch, {Dim}], got {query.Describe()}");
        float[] scores;
        using (GradMode.NoGrad())
        using (var scope = new TensorScope())
            scores = Ops.MatMul(query, Prompts, transB: true).ToArray();     // [B, P]
        int b = query.Dim(0), p = Size, k = TopK;
        var picked = new int[b * k];
        var order = new int[p];
        for (int i = 0; i < b; i++)
        {
            var row = scores.AsSpan(i * p, p).ToArray();
            for (int j = 0; j < p; j++) order[j] = j;
            // float.CompareTo ranks NaN lowest: a diverged query still selects, and its NaN loss reaches the step guard.
            Array.Sort(order, (x, y) => row[y].CompareTo(row[x]) is var c && c != 0 ? c : x.CompareTo(y));
            order.AsSpan(0, k).CopyTo(picked.AsSpan(i * k, k));
            // Pool order, not score order: a small change of the query then swaps single rows in or out instead of
            // reshuffling the positions of all the pseudo tokens.
            picked.AsSpan(i * k, k).Sort();
        }
        return picked;
    }

    /// <summary>query [B, d] -> pseudo tokens [B, k, d]: the selected rows, with gradient to them.</summary>
    public Tensor Forward(Tensor query, PtunifierBatch owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var index = owner.Ints(Select(query), query.Dim(0), TopK);
        return Ops.Embedding(Prompts, index);
    }
}
