using System.Numerics.Tensors;
using Cleft.Train.Reports;

namespace Cleft.Train.Metrics;

/// <summary>Recall@K (fraction of queries with a relevant item in the top K) in both directions.</summary>
public sealed record RetrievalReport(IReadOnlyDictionary<int, double> ImageToText, IReadOnlyDictionary<int, double> TextToImage, int Count)
{
    public string ToMarkdown(string title)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"## {title}").AppendLine();
        sb.AppendLine($"{Markdown.Integer(Count)} image-text pairs.").AppendLine();
        sb.Append(Markdown.Table(["direction", .. ImageToText.Keys.Select(k => $"R@{k}")], [
            ["image → text", .. ImageToText.Values.Select(Markdown.Number)],
            ["text → image", .. TextToImage.Values.Select(Markdown.Number)],
        ]));
        return sb.ToString();
    }

    /// <summary>{"count": N, "image_to_text": {"R@1": ...}, "text_to_image": {...}}.</summary>
    public Dictionary<string, object> ToJson() => new()
    {
        ["count"] = Count,
        ["image_to_text"] = ImageToText.ToDictionary(p => $"R@{p.Key}", p => p.Value),
        ["text_to_image"] = TextToImage.ToDictionary(p => $"R@{p.Key}", p => p.Value),
    };
}

/// <summary>
/// Image-text retrieval on N paired embeddings (row i of images belongs with row i of texts). Similarity is
/// the cosine, computed in double on rows normalised here. A query counts as a hit at K when a relevant item
/// is among its top K: the paired item, or with <c>groups</c> any item whose group id equals the query's (e.g.
/// several images sharing one caption, whose texts are then interchangeable). The ranking sorts by similarity,
/// then by index, so equal similarities (identical embeddings) rank deterministically, the lower index first.
/// </summary>
public static class Retrieval
{
    public static readonly int[] DefaultKs = [1, 5, 10];

    /// <param name="images">[N, dim] image embeddings, row-major.</param>
    /// <param name="texts">[N, dim] text embeddings, row i paired with image i.</param>
    /// <param name="groups">optional N group ids: items of one group are all relevant to each other's queries.</param>
    /// <param name="ks">the K values (default 1, 5, 10); a K above N gives recall 1.</param>
    public static RetrievalReport Evaluate(float[] images, float[] texts, int dim, int[]? groups = null, int[]? ks = null)
    {
        if (dim <= 0 || images.Length % dim != 0 || images.Length == 0)
            throw new ArgumentException($"retrieval: {images.Length} image values are not a non-empty multiple of dim {dim}");
        if (texts.Length != images.Length)
            throw new ArgumentException($"retrieval: {texts.Length / dim} text rows for {images.Length / dim} image rows (need pairs)");
        int n = images.Length / dim;
        if (groups is not null && groups.Length != n) throw new ArgumentException($"retrieval: {groups.Length} group ids for {n} pairs");
        ks ??= DefaultKs;
        if (ks.Length == 0 || ks.Any(k => k < 1)) throw new ArgumentException($"retrieval: K values must be >= 1, got [{string.Join(", ", ks)}]");
        var img = Embeddings.Normalised(images, n, dim);
        var txt = Embeddings.Normalised(texts, n, dim);
        // relevant[i]: the items relevant to query i (the same indices in either direction, as the pairing is 1:1)
        int[][] relevant = groups is null
            ? Enumerable.Range(0, n).Select(i => new[] { i }).ToArray()
            : RelevantByGroup(groups);
        var i2t = Recall(img, txt, n, dim, relevant, ks);
        var t2i = Recall(txt, img, n, dim, relevant, ks);
        return new RetrievalReport(i2t, t2i, n);
    }

    static int[][] RelevantByGroup(int[] groups)
    {
        var members = new Dictionary<int, List<int>>();
        for (int i = 0; i < groups.Length; i++)
        {
            if (!members.TryGetValue(groups[i], out var list)) members[groups[i]] = list = [];
            list.Add(i);
        }
        var shared = members.ToDictionary(p => p.Key, p => p.Value.ToArray());
        return groups.Select(g => shared[g]).ToArray();
    }

    /// <summary>Recall@K for queries q against items: rank of the best-placed relevant item &lt; K.</summary>
    static SortedDictionary<int, double> Recall(double[] queries, double[] items, int n, int dim, int[][] relevant, int[] ks)
    {
        var rank = new int[n];
        Parallel.For(0, n, () => new double[n], (q, _, sim) =>
        {
            var qv = queries.AsSpan(q * dim, dim);
            for (int j = 0; j < n; j++) sim[j] = TensorPrimitives.Dot(qv, items.AsSpan(j * dim, dim));
            rank[q] = BestRank(sim, relevant[q]);
            return sim;
        }, _ => { });
        var result = new SortedDictionary<int, double>();
        foreach (int k in ks) result[k] = (double)rank.Count(r => r < k) / n;
        return result;
    }

    /// <summary>0-based position, in the order (similarity descending, index ascending), of the first relevant item.</summary>
    internal static int BestRank(ReadOnlySpan<double> sim, int[] relevant)
    {
        int best = relevant[0];
        foreach (int j in relevant)
            if (sim[j] > sim[best] || (sim[j] == sim[best] && j < best)) best = j;
        int rank = 0;
        for (int j = 0; j < sim.Length; j++)
            if (sim[j] > sim[best] || (sim[j] == sim[best] && j < best)) rank++;
        return rank;
    }
}
