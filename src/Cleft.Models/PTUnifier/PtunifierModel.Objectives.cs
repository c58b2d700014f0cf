using Cleft.Autograd;

namespace Cleft.Models.PTUnifier;

/// <summary>The weighted total and each objective's own loss (null when its weight is 0 and it was not computed).</summary>
public sealed record PtunifierLosses(Tensor Total, Tensor? Itc, Tensor? Itm, Tensor? Mlm);

public sealed partial class PtunifierModel
{
    /// <summary>
    /// The three pretraining objectives on paired images and captions, weighted by <see cref="PtunifierConfig.Weights"/>:
    /// <list type="bullet">
    /// <item>ITC: image + pseudo text against pseudo image + text, symmetric InfoNCE at the fixed temperature.</item>
    /// <item>ITM: the B true pairs and B swapped ones, each image's caption replaced by one sampled from the softmax of
    /// its ITC similarities over captions that differ from its own (a hard negative; uniform when ITC is off); a swapped
    /// caption identical to the true one is labelled a match.</item>
    /// <item>MLM: whole-word masking of the captions, predicted from the text stream fused with the real image.</item>
    /// </list>
    /// The masks and negatives come from <see cref="ObjectiveRng"/>. Dispose <paramref name="owner"/> after backward.
    /// </summary>
    public PtunifierLosses Forward(Tensor pixels, IReadOnlyList<string> captions, PtunifierBatch owner)
    {
        ArgumentNullException.ThrowIfNull(captions);
        int b = captions.Count;
        if (pixels.Dim(0) != b) throw new ArgumentException($"PtunifierModel: {pixels.Dim(0)} images but {b} captions");
        if (b < 2) throw new ArgumentException($"PtunifierModel: a batch of {b} pair(s) has no negatives for ITC / ITM; use at least 2");
        var w = Config.Weights;
        var text = Encode(captions, owner);
        var image = ImageTokens(pixels, out var imageQuery);
        var words = TextTokens(text, out var textQuery);
        Tensor? itc = null, itm = null, mlm = null;
        float[]? similarity = null;
        if (w.Itc > 0)
        {
            var u = Embed(Fusion.Forward(PseudoTextTokens(imageQuery, owner), null, image, owner).Pooled);
            var v = Embed(Fusion.Forward(words, text.HostMask, PseudoImageTokens(textQuery, owner), owner).Pooled);
            itc = Ops.ContrastiveLoss(u, v, LogitScale);
            using (GradMode.NoGrad()) similarity = Ops.MatMul(u, v, transB: true).ToArray();
        }
        if (w.Itm > 0) itm = MatchingLoss(image, words, text, captions, similarity, owner);
        if (w.Mlm > 0) mlm = MaskedLanguageLoss(image, text, owner);
        Tensor? total = null;
        foreach (var (loss, weight) in new[] { (itc, w.Itc), (itm, w.Itm), (mlm, w.Mlm) })
            if (loss is not null)
            {
                var term = weight == 1f ? loss : Ops.Scale(loss, weight);
                total = total is null ? term : Ops.Add(total, term);
            }
        return new PtunifierLosses(total!, itc, itm, mlm);
    }

    Tensor MatchingLoss(Tensor image, Tensor words, TextInput text, IReadOnlyList<string> captions, float[]? similarity, PtunifierBatch owner)
    {
        int b = captions.Count;
        var negatives = new int[b];
        var labels = new int[2 * b];
        float scale = 1f / Config.Temperature;
        for (int i = 0; i < b; i++)
        {
            labels[i] = 1;
            var candidates = Enumerable.Range(0, b).Where(j => captions[j] != captions[i]).ToList();
            if (candidates.Count == 0) candidates = Enumerable.Range(0, b).Where(j => j != i).ToList();
            int pick = candidates[^1];
            if (similarity is null) pick = candidates[ObjectiveRng.NextInt(candidates.Count)];
            else
            {
                // Softmax over the candidates' similarities, sampled by inverse CDF (max subtracted for stability).
                float max = candidates.Max(j => similarity[i * b + j]);
                var weights = candidates.Select(j => Math.Exp(scale * (similarity[i * b + j] - max))).ToArray();
                double r = ObjectiveRng.NextDouble() * weights.Sum();
                for (int k = 0; k < candidates.Count; k++)
                    if ((r -= weights[k]) < 0) { pick = candidates[k]; break; }
            }
            negatives[i] = pick;
            labels[b + i] = captions[pick] == captions[i] ? 1 : 0;
        }
        var swapped = text.Rows(owner, negatives);
        var textPairs = Ops.Concat(0, words, Ops.IndexSelect(words, owner.Ints(negatives, b)));
        int[] mask = [.. text.HostMask, .. swapped.HostMask];
        var fused = Fusion.Forward(textPairs, mask, Ops.Concat(0, image, image), owner);
        return Ops.CrossEntropy(Itm.Forward(fused.Pooled), owner.Ints(labels, 2 * b));
    }

    Tensor MaskedLanguageLoss(Tensor image, TextInput text, PtunifierBatch owner)
    {
        var m = WholeWordMasking.Apply(text.HostIds, text.HostMask, text.Batch, text.Length, Tokenizer.Tokens, Tokenizer.MaskId,
            Config.MaskProbability, ObjectiveRng);
        if (m.Positions.Length == 0)
            throw new ArgumentException("PtunifierModel: no caption has a word to mask (all captions empty?); MLM needs at least one");
        var hidden = Text.Forward(owner.Ints(m.Ids, text.Batch, text.Length), text.Mask).LastHiddenState;
        var fused = Fusion.Forward(hidden, text.HostMask, image, owner).Text;
        var flat = Ops.Reshape(fused, text.Batch * text.Length, Config.Hidden);
        var logits = Mlm.Forward(Ops.IndexSelect(flat, owner.Ints(m.Positions, m.Positions.Length)));
        return Ops.CrossEntropy(logits, owner.Ints(m.Targets, m.Targets.Length));
    }
}
