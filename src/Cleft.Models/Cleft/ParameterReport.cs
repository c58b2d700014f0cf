using System.Globalization;
using System.Text;
using Cleft.Models.Gpt2;
using Cleft.Models.Vision;

namespace Cleft.Models.Recipe;

/// <summary>
/// The `params` report (docs/RECIPE.md §params), from configs alone — nothing is allocated, so it runs for the paper's
/// DINOv2-B + BioMedLM. Trainable parameters of CLEFT (ViT + both projections + LoRA + logit scale) against the
/// baseline with the same ViT and a fully trained 6-layer Bio_ClinicalBERT (+ the same projection heads).
/// <para>
/// The ViT is counted as HF counts the checkpoint (<see cref="VitParameterCount.Backbone"/> at the config's image
/// size, mask token included: 86,583,552 for DINOv2-B), which is the 86.58M the paper quotes;
/// <see cref="VisionAsTrained"/> is what this engine actually trains at <see cref="CleftConfig.ImageSize"/>
/// (no mask token, the position table resampled to the training grid).
/// </para>
/// </summary>
public sealed record ParameterReport(
    long Vision, long VisionAsTrained, long ImageProjection, long TextProjection, long Lora, long LogitScale,
    long TextFrozen, long BertText, long BaselineTextProjection)
{
    public static ParameterReport Compute(CleftConfig config, BertConfig? bert = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        bert ??= BertConfig.BioClinicalBert6;
        var v = config.Vision;
        int d = config.EmbedDim;
        var text = Gpt2ParameterCount.Compute(config.Gpt2("ParameterReport"), config.TextOptions, d);
        return new ParameterReport(
            Vision: VitParameterCount.Backbone(v),
            VisionAsTrained: VitParameterCount.Backbone(v, config.ImageSize, includeMaskToken: false),
            ImageProjection: (long)v.HiddenSize * d + d,
            TextProjection: text.Projection,
            // Whatever of the GPT-2 the options unlock (LoRA; embeddings / LayerNorms with the code's flags).
            Lora: text.Trainable - text.Projection,
            LogitScale: 1,
            TextFrozen: text.Total - text.Trainable,
            BertText: BertParameterCount.Encoder(bert),
            BaselineTextProjection: (long)bert.Hidden * d + d);
    }

    public long CleftTrainable => Vision + ImageProjection + TextProjection + Lora + LogitScale;
    public long BaselineTrainable => Vision + ImageProjection + BertText + BaselineTextProjection + LogitScale;
    /// <summary>1 - CLEFT / baseline: the "fewer trainable parameters" claim (~40%).</summary>
    public double Reduction => 1.0 - (double)CleftTrainable / BaselineTrainable;
    /// <summary>Trainable language-model parameters relative to the BERT baseline's text encoder (~4%).</summary>
    public double LmRatio => (double)Lora / BertText;

    public override string ToString()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        void Row(string what, long n) => sb.AppendLine(ci, $"  {what,-44} {n,14:N0}");
        sb.AppendLine("CLEFT trainable");
        Row("vision encoder (HF checkpoint count)", Vision);
        Row("image projection", ImageProjection);
        Row("text projection", TextProjection);
        Row("LoRA (trainable LM)", Lora);
        Row("logit scale", LogitScale);
        Row("total", CleftTrainable);
        Row("frozen LM (not trained)", TextFrozen);
        Row("vision encoder as trained here", VisionAsTrained);
        sb.AppendLine("Baseline (same ViT + 6-layer Bio_ClinicalBERT) trainable");
        Row("BERT text encoder", BertText);
        Row("text projection", BaselineTextProjection);
        Row("total", BaselineTrainable);
        sb.AppendLine(ci, $"CLEFT trains {100 * Reduction:F1}% fewer parameters; trainable LM = {100 * LmRatio:F2}% of BERT");
        return sb.ToString();
    }
}
