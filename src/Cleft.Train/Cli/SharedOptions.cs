using System.CommandLine;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;
using Cleft.Train.Data;

namespace Cleft.Train.Cli;

/// <summary>--device and --seed, on every command that computes.</summary>
public sealed class DeviceOptions(CommandOptions o)
{
    readonly Option<string> _device = o.Add("device", "auto", $"where to compute: {string.Join(", ", Devices.Names)} (auto: CUDA if present, else cpu)",
        v => Devices.Names.Contains(v) ? null : $"unknown device; one of {string.Join(", ", Devices.Names)}");

    readonly Option<string> _precision = o.Add("precision", "auto",
        "what GEMMs and attention compute in: fp32, or bf16 (tensor cores; inputs rounded to bf16, fp32 accumulate, weights, " +
        "optimizer, softmax, norms and loss stay fp32). auto: bf16 on cuda, fp32 elsewhere; the cpu device is fp32 only",
        v => Precisions.Names.Contains(v) ? null : $"unknown precision; one of {string.Join(", ", Precisions.Names)}");

    public IBackend Create(ParseResult r) => Devices.Create(r.GetValue(_device)!, Precisions.Parse(r.GetValue(_precision)!));

    /// <summary>As <see cref="Create(ParseResult)"/>, with <paramref name="whenAuto"/> where --precision is auto.</summary>
    public IBackend Create(ParseResult r, Precision whenAuto) => Devices.Create(r.GetValue(_device)!, Precisions.Parse(r.GetValue(_precision)!) ?? whenAuto);
}

/// <summary>How a manifest is read (shared by every command that takes a CSV).</summary>
public sealed class DataOptions
{
    readonly Option<string> _format, _imageCol, _captionCol, _embedTask;
    readonly Option<string?> _labelCol, _classes, _imageRoot;

    public DataOptions(CommandOptions o, bool labels)
    {
        _format = o.Add("format", "generic", "manifest format: generic (columns below), chexpert, rsna, embed",
            v => Enum.TryParse<ManifestFormat>(v, true, out _) ? null : "one of generic, chexpert, rsna, embed");
        _imageCol = o.Add("image-col", "Path", "generic format: the column of image paths (relative to the CSV's folder; case-insensitive)");
        _captionCol = o.Add("caption-col", "caption", "generic format: the column of captions");
        _labelCol = o.OptionalString("label-col", labels ? "generic format: the column of labels (class name or index)" : "generic format: label column (unused here)");
        _classes = o.OptionalString("classes", "class names in label order: 'A,B,C' or a file with one per line (default: the label column's distinct values, sorted)");
        _imageRoot = o.OptionalString("image-root", "folder image paths are relative to (default: the CSV's folder)");
        _embedTask = o.Add("embed-task", "birads", "embed format: birads or density",
            v => v is "birads" or "density" ? null : "birads or density");
    }

    public DataSource Source(ParseResult r) => new(
        Enum.Parse<ManifestFormat>(r.GetValue(_format)!, true), r.GetValue(_imageCol)!, r.GetValue(_captionCol)!, r.GetValue(_labelCol),
        r.GetValue(_classes) is { } c ? CsvManifest.ParseClasses(c) : null, r.GetValue(_imageRoot),
        r.GetValue(_embedTask) == "density" ? EmbedTask.Density : EmbedTask.Birads);
}

/// <summary>The model spec's options (`cleft pretrain`): towers, shapes and PEFT. Defaults are the paper's.</summary>
public sealed class ModelOptions
{
    readonly Option<string> _vision, _text, _loraTargets;
    readonly Option<string?> _tokenizer, _textTuning;
    readonly Option<int> _imageSize, _embedDim, _maxTokens, _loraR, _seed;
    readonly Option<float> _loraAlpha, _loraDropout;
    readonly Option<bool> _noLora, _ia3, _halfText, _trainEmbed, _unlockLn, _textDropout, _sumLoss, _noClamp;

    public ModelOptions(CommandOptions o)
    {
        _vision = o.Add("vision", "dinov2-vitb14-reg", $"image tower: a Hugging Face folder (DINOv2 with registers) or a preset for random init ({string.Join(", ", CleftModelSpec.VisionPresets.Keys)})");
        _text = o.Add("text", "biomedlm", "text tower: a Hugging Face GPT-2-family or BERT folder, or a preset for random init " +
            $"({string.Join(", ", CleftModelSpec.TextPresets.Keys.Concat(BertPresets.Names))}); a BERT makes the BERT-CLIP baseline");
        _textTuning = o.OptionalString("text-tuning", "how the text tower trains: lora (a frozen base with the PEFT options below; GPT-2's default) " +
            "or full (every text weight; BERT's default and only choice)");
        _tokenizer = o.OptionalString("tokenizer", "tokenizer folder: GPT-2's vocab.json + merges.txt or BERT's vocab.txt (default: the text folder's, else the preset's)");
        _imageSize = o.Add("image-size", 224, "input resolution in pixels (a multiple of the patch size)", CommandOptions.Positive);
        _embedDim = o.Add("embed-dim", 512, "joint embedding dimension", CommandOptions.Positive);
        _maxTokens = o.Add("max-tokens", 64, "caption length in tokens (longer captions are truncated)", CommandOptions.Positive);
        _loraR = o.Add("lora-r", 8, "LoRA rank on the text tower", CommandOptions.Positive);
        _loraAlpha = o.Add("lora-alpha", 32f, "LoRA alpha (scaling = alpha / r)", CommandOptions.Positive);
        _loraDropout = o.Add("lora-dropout", 0.1f, "dropout on the LoRA input", CommandOptions.Probability);
        _loraTargets = o.Add("lora-targets", "c_attn", "LoRA target modules (today: c_attn, GPT-2's fused QKV projection)",
            v => v == "c_attn" ? null : "only c_attn is supported by the GPT-2 encoder");
        _noLora = o.Flag("no-lora", "no LoRA: the frozen text tower's projection alone trains");
        _ia3 = o.Flag("ia3", "IA3 on c_attn and mlp.c_proj instead of LoRA (the released code's alternative; CLEFT's ablation)");
        _halfText = o.Flag("half-text", "store the frozen text matrices in fp16 (half the memory, fp32 sums)");
        _trainEmbed = o.Flag("train-embed", "train the token embeddings (the paper unlocks them; the released command does not)");
        _unlockLn = o.Flag("unlock-ln", "train the text tower's LayerNorms");
        _textDropout = o.Flag("text-dropout", "GPT-2's own dropout (embd/resid_pdrop) while training");
        _sumLoss = o.Flag("sum-loss", "add the two contrastive directions (the released code) instead of averaging (open_clip)");
        _noClamp = o.Flag("no-clamp-scale", "do not clamp the logit scale to [0, ln 100] (the released code does not)");
        _seed = o.Add("seed", 42, "random seed: initialisation, shuffling, augmentation, dropout", CommandOptions.NonNegative);
    }

    public CleftModelSpec Spec(ParseResult r)
    {
        string text = Resolve(r.GetValue(_text)!), kind = CleftModelSpec.KindOf(text);
        bool full = FullTuning(r, kind);
        return new()
        {
            Vision = Resolve(r.GetValue(_vision)!), Text = text, TextKind = kind, Tokenizer = r.GetValue(_tokenizer) is { } t ? Path.GetFullPath(t) : null,
            Seed = (ulong)r.GetValue(_seed), ImageSize = r.GetValue(_imageSize), EmbedDim = r.GetValue(_embedDim), MaxTextLength = r.GetValue(_maxTokens),
            Ia3 = r.GetValue(_ia3) ? Ia3Config.Cleft : null, FreezeText = !full,
            Lora = full || r.GetValue(_noLora) || r.GetValue(_ia3) ? null
                : new LoraConfig(r.GetValue(_loraR), r.GetValue(_loraAlpha), r.GetValue(_loraDropout), [r.GetValue(_loraTargets)!]),
            HalfTextBase = r.GetValue(_halfText), TrainEmbeddings = r.GetValue(_trainEmbed), UnlockLayerNorm = r.GetValue(_unlockLn),
            TextDropout = r.GetValue(_textDropout), SumLoss = r.GetValue(_sumLoss), ClampLogitScale = !r.GetValue(_noClamp),
        };
    }

    /// <summary>
    /// --text-tuning resolved against the tower (lora for GPT-2, full for BERT when absent), refusing what cannot go
    /// together: BERT is only fine-tuned whole here, and full tuning leaves nothing for the frozen-base flags to do.
    /// </summary>
    bool FullTuning(ParseResult r, string kind)
    {
        bool bert = kind == CleftModelSpec.BertKind;
        string tuning = r.GetValue(_textTuning) ?? (bert ? "full" : "lora");
        if (tuning is not ("lora" or "full")) throw new CliUsageException($"--text-tuning: '{tuning}' is not lora or full");
        if (bert && tuning == "lora")
            throw new CliUsageException("--text-tuning lora: a BERT text tower (the BERT-CLIP baseline) is fully fine-tuned; use --text-tuning full");
        if (bert && r.GetValue(_textDropout)) throw new CliUsageException("--text-dropout is GPT-2's dropout; the BERT text tower has none");
        if (tuning == "full" && (r.GetValue(_noLora) || r.GetValue(_ia3) || r.GetValue(_halfText) || r.GetValue(_trainEmbed) || r.GetValue(_unlockLn)))
            throw new CliUsageException("--text-tuning full trains every text weight; --no-lora, --ia3, --half-text, --train-embed and --unlock-ln apply to a frozen base");
        return tuning == "full";
    }

    /// <summary>Folders become absolute (a run folder must work from any directory); preset names stay.</summary>
    static string Resolve(string source) => Directory.Exists(source) ? Path.GetFullPath(source) : source;
}

/// <summary>The train augmentation's steps, each switchable by its probability (0 = off); defaults are the recipe's.</summary>
public sealed class AugmentOptions
{
    readonly Option<float> _crop, _jitter, _blur, _affine, _flip;
    readonly Option<bool> _none;

    public AugmentOptions(CommandOptions o)
    {
        var d = new PreprocessOptions();
        static string? P(float v) => v is >= 0 and <= 1 ? null : "must be a probability in [0, 1]";
        _crop = o.Add("aug-crop", (float)d.RandomCrop.Probability, "probability of a random (not centred) crop position", P);
        _jitter = o.Add("aug-jitter", (float)d.ColorJitter.Probability, "probability of brightness/contrast jitter (0.2 each)", P);
        _blur = o.Add("aug-blur", (float)d.GaussianBlur.Probability, "probability of a 7x7 Gaussian blur (sigma 0.1..2)", P);
        _affine = o.Add("aug-affine", (float)d.RandomAffine.Probability, "probability of the random affine (10 deg, scale 0.8..1.1, translate 0.0625)", P);
        _flip = o.Add("aug-flip", (float)d.HorizontalFlip.Probability, "probability of a horizontal flip", P);
        _none = o.Flag("no-augment", "no train augmentation at all: the eval transform only");
    }

    /// <summary>Null when augmentation is off; otherwise the steps (sizes are set by the run).</summary>
    public PreprocessOptions? Steps(ParseResult r) => r.GetValue(_none) ? null : new PreprocessOptions
    {
        RandomCrop = new(r.GetValue(_crop), r.GetValue(_crop) > 0), ColorJitter = new(r.GetValue(_jitter), r.GetValue(_jitter) > 0),
        GaussianBlur = new(r.GetValue(_blur), r.GetValue(_blur) > 0), RandomAffine = new(r.GetValue(_affine), r.GetValue(_affine) > 0),
        HorizontalFlip = new(r.GetValue(_flip), r.GetValue(_flip) > 0),
    };
}
