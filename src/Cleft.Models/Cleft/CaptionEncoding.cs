using Cleft.Kernels;
using Cleft.Models.Gpt2;
using Cleft.Models.Text;

namespace Cleft.Models.Recipe;

/// <summary>
/// Turns captions into a <see cref="Gpt2TextBatch"/> CLEFT's way: the tokenizer's ids without special tokens,
/// truncated to the max length, right-padded with eos (pad = eos), mask 1 on real tokens only — so the feature
/// is the hidden state at the first pad. The tokenizer is a plain function so tests can use a toy vocabulary
/// that fits a tiny GPT-2; <see cref="From(Gpt2Tokenizer)"/> adapts the real BPE tokenizer. A BERT tower's tokenizer
/// frames captions as [CLS] ... [SEP] and pads with [PAD]; with keepClosingToken a truncated caption still ends in
/// its [SEP], as HF's truncation leaves it.
/// </summary>
public static class CaptionEncoding
{
    public static Func<string, int[]> From(Gpt2Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.Encode;
    }

    /// <summary>Row-major ids and mask [texts.Count, maxLength].</summary>
    public static (int[] Ids, int[] Mask) Pad(Func<string, int[]> tokenize, IReadOnlyList<string> texts, int maxLength, int padId,
        bool keepClosingToken = false)
    {
        ArgumentNullException.ThrowIfNull(tokenize);
        ArgumentNullException.ThrowIfNull(texts);
        var ids = new int[texts.Count * maxLength];
        var mask = new int[texts.Count * maxLength];
        Array.Fill(ids, padId);
        for (int b = 0; b < texts.Count; b++)
        {
            var t = tokenize(texts[b]);
            if (t.Length == 0) throw new ArgumentException($"CaptionEncoding: caption {b} ('{texts[b]}') has no tokens");
            int n = Math.Min(t.Length, maxLength);
            t.AsSpan(0, n).CopyTo(ids.AsSpan(b * maxLength, n));
            if (keepClosingToken && t.Length > maxLength) ids[b * maxLength + n - 1] = t[^1];
            mask.AsSpan(b * maxLength, n).Fill(1);
        }
        return (ids, mask);
    }

    public static Gpt2TextBatch Encode(IBackend device, Func<string, int[]> tokenize, IReadOnlyList<string> texts, int maxLength, int padId,
        bool keepClosingToken = false)
    {
        var (ids, mask) = Pad(tokenize, texts, maxLength, padId, keepClosingToken);
        return Gpt2TextBatch.Create(device, ids, mask, texts.Count, maxLength);
    }
}
