using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Text;

namespace Cleft.Models.Gpt2;

/// <summary>
/// A right-padded batch of token ids for <see cref="Gpt2TextEncoder"/>: ids and attention mask [B, T] on the
/// device, plus the flat gather index b*T + pos[b] of each row's text feature, worked out on the host from
/// the mask (docs/RECIPE.md §text): the first pad position after the last real token, or the last real token when the
/// row has no padding. It owns the three device tensors and must outlive the backward pass (the gather's
/// gradient reads the index): dispose it after the step.
/// </summary>
public sealed class Gpt2TextBatch : IDisposable
{
    Gpt2TextBatch(IntTensor ids, IntTensor mask, IntTensor gather, int[] positions)
    {
        Ids = ids; Mask = mask; GatherIndex = gather; EosPositions = positions;
    }

    public IntTensor Ids { get; }
    public IntTensor Mask { get; }
    /// <summary>[B] flat row indices b*T + EosPositions[b] into hidden states viewed as [B*T, C].</summary>
    public IntTensor GatherIndex { get; }
    /// <summary>Per row, the position whose hidden state is the text feature.</summary>
    public int[] EosPositions { get; }
    public int Batch => Ids.Shape[0];
    public int Length => Ids.Shape[1];

    /// <summary>From row-major ids and mask [batch, seq] (e.g. <c>Gpt2Tokenizer.EncodeBatch</c>'s output).</summary>
    public static Gpt2TextBatch Create(IBackend device, int[] ids, int[] mask, int batch, int seq)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(mask);
        if (batch <= 0 || seq <= 0 || ids.Length != batch * seq || mask.Length != batch * seq)
            throw new ArgumentException($"Gpt2TextBatch: {ids.Length} ids and {mask.Length} mask values for [{batch}, {seq}]");
        var pos = EosPositionsOf(mask, batch, seq);
        var gather = new int[batch];
        for (int b = 0; b < batch; b++) gather[b] = b * seq + pos[b];
        IntTensor? i = null, m = null;
        try
        {
            i = IntTensor.FromArray(device, ids, batch, seq);
            m = IntTensor.FromArray(device, mask, batch, seq);
            return new Gpt2TextBatch(i, m, IntTensor.FromArray(device, gather, batch), pos);
        }
        catch { i?.Dispose(); m?.Dispose(); throw; }
    }

    /// <summary>
    /// Tokenizes captions CLEFT's way: right padding to <paramref name="maxLength"/> with pad = eos (so the first
    /// pad is the EOS whose hidden state is the feature), truncation beyond it (then the last token is used).
    /// </summary>
    public static Gpt2TextBatch Encode(IBackend device, Gpt2Tokenizer tokenizer, IReadOnlyList<string> texts, int maxLength, int eosId)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        var (ids, mask) = tokenizer.EncodeBatch(texts, maxLength, eosId);
        return Create(device, ids, mask, texts.Count, maxLength);
    }

    /// <summary>
    /// The feature position per row. The mask must be right padding: 1s then 0s, at least one 1 per row (a
    /// left-padded or holed mask would make "first pad after the last real token" meaningless).
    /// </summary>
    public static int[] EosPositionsOf(ReadOnlySpan<int> mask, int batch, int seq)
    {
        var pos = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            var row = mask.Slice(b * seq, seq);
            int real = 0;
            while (real < seq && row[real] == 1) real++;
            for (int t = real; t < seq; t++)
                if (row[t] != 0)
                    throw new ArgumentException($"Gpt2TextBatch: attention mask row {b} is not right padding (0/1 with every 1 before every 0): value {row[t]} at position {t}");
            if (real == 0) throw new ArgumentException($"Gpt2TextBatch: attention mask row {b} has no real token");
            pos[b] = real < seq ? real : seq - 1;
        }
        return pos;
    }

    public void Dispose()
    {
        Ids.Dispose();
        Mask.Dispose();
        GatherIndex.Dispose();
    }
}
