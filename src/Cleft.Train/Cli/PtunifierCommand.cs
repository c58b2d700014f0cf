using System.CommandLine;
using Cleft.Models.Bert;
using Cleft.Models.PTUnifier;
using Cleft.Models.Recipe;
using Cleft.Train.Training;

namespace Cleft.Train.Cli;

/// <summary>
/// `cleft ptunifier pretrain | zeroshot | retrieve | probe`: PTUnifier (ICCV 2023) on the same manifests, run folders,
/// progress and plots as CLEFT's commands. pretrain takes `cleft pretrain`'s data and schedule options plus the
/// PTUnifier model's; the evaluations are CLEFT's commands, which recognise a PTUnifier run by its ptunifier.json.
/// </summary>
public static class PtunifierCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("ptunifier", "PTUnifier (ICCV 2023): soft prompt pools, co-attention fusion, ITC / ITM / MLM pretraining, and its evaluations");
        cmd.Subcommands.Add(Pretrain(output));
        cmd.Subcommands.Add(EvalCommands.ZeroShot(output));
        cmd.Subcommands.Add(EvalCommands.Retrieve(output));
        cmd.Subcommands.Add(EvalCommands.Probe(output));
        return cmd;
    }

    static Command Pretrain(TextWriter output)
    {
        var cmd = new Command("pretrain", "PTUnifier pretraining (ITC + ITM + MLM, everything trainable) into a run folder");
        var o = new CommandOptions(cmd);
        var settings = new PretrainSettings<PtunifierModelOptions>(o, beforeDevice: () => new PtunifierModelOptions(o));
        cmd.SetAction(r =>
        {
            var options = new PtunifierPretrainOptions { Run = settings.Options(r, new CleftModelSpec()), Model = settings.Model.Spec(r) };
            using var dev = settings.Device.Create(r);
            PtunifierPretrainRun.Run(dev, options, o.Resolved(r), output);
            return 0;
        });
        return cmd;
    }
}

/// <summary>The PTUnifier model's options; defaults are docs/RECIPE.md §ptunifier's.</summary>
public sealed class PtunifierModelOptions
{
    readonly Option<string> _vision, _text;
    readonly Option<int> _imageSize, _maxTokens, _pool, _visual, _textual, _layers, _heads, _embedDim, _seed;
    readonly Option<float> _temperature, _maskProb, _mlm, _itm, _itc;

    public PtunifierModelOptions(CommandOptions o)
    {
        var d = new PtunifierSpec();
        _vision = o.Add("vision", d.Vision, $"image tower: a Hugging Face folder (DINOv2 with registers) or a preset ({string.Join(", ", CleftModelSpec.VisionPresets.Keys)})");
        _text = o.Add("text", d.Text, $"text tower: a Hugging Face BERT folder (config.json, model.safetensors, vocab.txt) or a preset ({string.Join(", ", BertPresets.Names)}; only bert-tiny has a built-in vocabulary)");
        _imageSize = o.Add("image-size", d.ImageSize, "input resolution in pixels (a multiple of the patch size)", CommandOptions.Positive);
        _maxTokens = o.Add("max-tokens", d.MaxTextLength, "caption length in tokens, [CLS] and [SEP] included", CommandOptions.Positive);
        _pool = o.Add("pool-size", d.PoolSize, "rows in each prompt pool (P)", CommandOptions.Positive);
        _visual = o.Add("visual-prompts", d.VisualPrompts, "visual pool rows picked as a text's pseudo image (k)", CommandOptions.Positive);
        _textual = o.Add("textual-prompts", d.TextualPrompts, "textual pool rows picked as an image's pseudo text (k)", CommandOptions.Positive);
        _layers = o.Add("fusion-layers", d.FusionLayers, "co-attention layers in the fusion module", CommandOptions.Positive);
        _heads = o.Add("fusion-heads", d.FusionHeads, "attention heads in the fusion module", CommandOptions.Positive);
        _embedDim = o.Add("embed-dim", d.EmbedDim, "ITC embedding dimension", CommandOptions.Positive);
        _temperature = o.Add("temperature", d.Temperature, "fixed ITC temperature", CommandOptions.Positive);
        _maskProb = o.Add("mask-prob", d.MaskProbability, "share of caption tokens whole-word masked for MLM", CommandOptions.Probability);
        _mlm = o.Add("mlm-weight", d.Weights.Mlm, "weight of the MLM loss (0: off)", CommandOptions.NonNegative);
        _itm = o.Add("itm-weight", d.Weights.Itm, "weight of the ITM loss (0: off)", CommandOptions.NonNegative);
        _itc = o.Add("itc-weight", d.Weights.Itc, "weight of the ITC loss (0: off; ITM then samples negatives uniformly)", CommandOptions.NonNegative);
        _seed = o.Add("seed", 42, "random seed: initialisation, shuffling, augmentation, masks and negatives", CommandOptions.NonNegative);
    }

    public PtunifierSpec Spec(ParseResult r) => new()
    {
        Vision = Resolve(r.GetValue(_vision)!), Text = Resolve(r.GetValue(_text)!), Seed = (ulong)r.GetValue(_seed),
        ImageSize = r.GetValue(_imageSize), MaxTextLength = r.GetValue(_maxTokens), PoolSize = r.GetValue(_pool),
        VisualPrompts = r.GetValue(_visual), TextualPrompts = r.GetValue(_textual), FusionLayers = r.GetValue(_layers),
        FusionHeads = r.GetValue(_heads), EmbedDim = r.GetValue(_embedDim), Temperature = r.GetValue(_temperature),
        MaskProbability = r.GetValue(_maskProb), Weights = new ObjectiveWeights(r.GetValue(_mlm), r.GetValue(_itm), r.GetValue(_itc)),
    };

    static string Resolve(string source) => Directory.Exists(source) ? Path.GetFullPath(source) : source;
}
