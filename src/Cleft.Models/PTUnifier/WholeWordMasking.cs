using Cleft.Autograd;

namespace Cleft.Models.PTUnifier;

/// <summary>The masked captions and what MLM predicts: flat positions (row * T + t) and the original ids there.</summary>
public sealed record MaskedText(int[] Ids, int[] Positions, int[] Targets);

/// <summary>
/// BERT's whole-word masking (HF DataCollatorForWholeWordMask): a word is a token plus the "##" pieces after it;
/// per caption the budget is max(1, round(p x real tokens)) tokens ([CLS] and [SEP] excluded), and words are taken
/// in a random order, skipping any that would overrun the budget. Each chosen token becomes [MASK] with probability
/// 0.8, a random vocabulary token with 0.1, and stays itself with 0.1; all of them are predicted.
/// </summary>
public static class WholeWordMasking
{
    public static MaskedText Apply(ReadOnlySpan<int> ids, ReadOnlySpan<int> mask, int batch, int length, IReadOnlyList<string> vocabulary,
        int maskId, float probability, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(rng);
        if (ids.Length != batch * length || mask.Length != ids.Length)
            throw new ArgumentException($"WholeWordMasking: {ids.Length} ids and {mask.Length} mask values for [{batch}, {length}]");
        var masked = ids.ToArray();
        var positions = new List<int>();
        for (int b = 0; b < batch; b++)
        {
            int real = 0;
            for (int t = 0; t < length; t++) real += mask[b * length + t];
            // [CLS] first, [SEP] last among the real tokens: neither is ever masked.
            var words = new List<(int Start, int Count)>();
            for (int t = 1; t < real - 1; t++)
            {
                int id = ids[b * length + t];
                if (id < 0 || id >= vocabulary.Count) throw new ArgumentException($"WholeWordMasking: token id {id} outside the vocabulary of {vocabulary.Count}");
                if (words.Count > 0 && vocabulary[id].StartsWith("##", StringComparison.Ordinal)) words[^1] = (words[^1].Start, words[^1].Count + 1);
                else words.Add((t, 1));
            }
            if (words.Count == 0) continue;
            int budget = Math.Max(1, (int)Math.Round(probability * (real - 2))), taken = 0;
            var order = Enumerable.Range(0, words.Count).ToArray();
            rng.Shuffle(order.AsSpan());
            foreach (int w in order)
            {
                var (start, count) = words[w];
                if (taken + count > budget) continue;
                taken += count;
                for (int t = start; t < start + count; t++) positions.Add(b * length + t);
            }
        }
        positions.Sort();
        var targets = new int[positions.Count];
        for (int i = 0; i < targets.Length; i++) targets[i] = ids[positions[i]];
        foreach (int p in positions)
        {
            double r = rng.NextDouble();
            if (r < 0.8) masked[p] = maskId;
            else if (r < 0.9) masked[p] = rng.NextInt(vocabulary.Count);
        }
        return new MaskedText(masked, [.. positions], targets);
    }
}
