using System.Text.Json;
using Cleft.Models.Bert;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Models.Text;
using Cleft.Models.Vision;

namespace Cleft.Models.Recipe;

/// <summary>
/// Everything needed to rebuild a CLEFT model before its trained weights are loaded: where each tower comes
/// from (a Hugging Face model folder, or a preset name for random initialisation from <see cref="Seed"/>), the
/// tokenizer, and the shape options. A run folder and every checkpoint keep it as model.json, together with
/// the fingerprint of the frozen weights it was trained against.
/// </summary>
public sealed record CleftModelSpec
{
    public const string FileName = "model.json";

    /// <summary>A folder with config.json + model.safetensors (DINOv2 with registers), or a vision preset.</summary>
    public string Vision { get; init; } = "tiny";
    /// <summary>A folder with config.json + model.safetensors (+ vocab.json, merges.txt / vocab.txt), or a text preset.</summary>
    public string Text { get; init; } = "tiny";
    /// <summary>
    /// Which text tower <see cref="Text"/> is: <see cref="Gpt2Kind"/> (CLEFT) or <see cref="BertKind"/> (the BERT-CLIP
    /// baseline, fully fine-tuned). Specs written before BERT towers existed lack it and mean GPT-2.
    /// </summary>
    public string TextKind { get; init; } = Gpt2Kind;
    /// <summary>A tokenizer folder (GPT-2: vocab.json + merges.txt; BERT: vocab.txt); null: the text folder's own, else
    /// the preset's (GPT-2's bundled BPE, bert-tiny's built vocabulary).</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Seeds the random initialisation (presets, projections, LoRA, dropout streams).</summary>
    public ulong Seed { get; init; } = 42;
    public int ImageSize { get; init; } = 224;
    public int EmbedDim { get; init; } = 512;
    public int MaxTextLength { get; init; } = 64;
    /// <summary>LoRA on the text tower (null: none, with <see cref="FreezeText"/> the projection alone trains).</summary>
    public LoraConfig? Lora { get; init; } = new(8, 32f, 0.1f, ["c_attn"]);
    /// <summary>IA3 on the text tower instead of LoRA (CLEFT's code offers it on c_attn + mlp.c_proj); null: none.</summary>
    public Ia3Config? Ia3 { get; init; }
    public bool FreezeText { get; init; } = true;
    public bool HalfTextBase { get; init; }
    public bool TrainEmbeddings { get; init; }
    public bool UnlockLayerNorm { get; init; }
    public bool TextDropout { get; init; }
    public bool SumLoss { get; init; }
    public bool ClampLogitScale { get; init; } = true;

    /// <summary>Vision presets: the demo's tiny tower and the DINOv2-with-registers shapes.</summary>
    public static readonly IReadOnlyDictionary<string, VitConfig> VisionPresets = new Dictionary<string, VitConfig>
    {
        // The demo's tower: 8 px patches so a 64 px image is an 8 x 8 grid; small enough to train on 2 cores.
        ["tiny"] = new(64, 3, 4, 8, 64, 3, 4, 4.0, 1.0f, 1e-6f),
        ["dinov2-vits14-reg"] = new(384, 12, 6, 14, 518, 3, 4, 4.0, 1.0f, 1e-6f),
        ["dinov2-vitb14-reg"] = VitConfig.Dinov2WithRegistersBase,
    };

    /// <summary>Text presets: a tiny GPT-2 on GPT-2's vocabulary, GPT-2 small, and BioMedLM's shape.</summary>
    public static readonly IReadOnlyDictionary<string, Gpt2Config> TextPresets = new Dictionary<string, Gpt2Config>
    {
        ["tiny"] = Gpt2Config.Gpt2Small() with { NEmbd = 64, NLayer = 2, NHead = 4, NPositions = 128, NInner = 256 },
        ["gpt2"] = Gpt2Config.Gpt2Small(),
        ["biomedlm"] = Gpt2Config.BioMedLm(),
    };

    public const string Gpt2Kind = "gpt2", BertKind = "bert";

    public bool IsBert => TextKind switch
    {
        Gpt2Kind => false,
        BertKind => true,
        _ => throw new ArgumentException($"text tower kind '{TextKind}' is neither {Gpt2Kind} nor {BertKind}"),
    };

    public static bool IsFolder(string source) => Directory.Exists(source);

    /// <summary>
    /// The kind of text tower a source is: a BERT preset, or a folder whose config.json says model_type "bert", is BERT;
    /// anything else is CLEFT's GPT-2 family (whose own loading reports a wrong folder).
    /// </summary>
    public static string KindOf(string text)
    {
        if (BertPresets.Names.Contains(text)) return BertKind;
        string config = Path.Combine(text, "config.json");
        if (!IsFolder(text) || !File.Exists(config)) return Gpt2Kind;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(config));
            return doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "bert"
                ? BertKind : Gpt2Kind;
        }
        catch (JsonException e) { throw new InvalidDataException($"{config}: not valid JSON: {e.Message}", e); }
    }

    /// <summary>The vision tower's shape: the folder's config.json or the preset.</summary>
    public VitConfig VisionConfig() => IsFolder(Vision)
        ? VitConfig.FromJson(Path.Combine(Vision, "config.json"))
        : VisionPresets.TryGetValue(Vision, out var c) ? c
        : throw new ArgumentException($"vision tower '{Vision}' is neither a folder nor a preset ({string.Join(", ", VisionPresets.Keys)})");

    /// <summary>The GPT-2 text tower's shape: the folder's config.json or the preset.</summary>
    public Gpt2Config TextConfig() => IsBert
        ? throw new InvalidOperationException($"text tower '{Text}' is a BERT, not a GPT-2")
        : IsFolder(Text)
        ? Gpt2Config.FromFile(Path.Combine(Text, "config.json"))
        : TextPresets.TryGetValue(Text, out var c) ? c
        : throw new ArgumentException($"text tower '{Text}' is neither a folder nor a preset ({string.Join(", ", TextPresets.Keys)})");

    public Gpt2Options TextOptions() => new()
    {
        FreezeBase = FreezeText, HalfBase = HalfTextBase, Lora = Ia3 is null ? Lora : null, Adapter = Ia3, TrainEmbeddings = TrainEmbeddings,
        UnlockLayerNorm = UnlockLayerNorm, HfDropout = TextDropout,
    };

    public CleftConfig Config() => IsBert
        ? new(VisionConfig(), null, TextOptions(), ImageSize, EmbedDim, MaxTextLength, SumLoss, ClampLogitScale, BertPresets.ConfigOf(Text))
        : new(VisionConfig(), TextConfig(), TextOptions(), ImageSize, EmbedDim, MaxTextLength, SumLoss, ClampLogitScale);

    /// <summary>
    /// The tokenizer: <see cref="Tokenizer"/>'s folder, else the text folder's vocab.json + merges.txt, else GPT-2's
    /// BPE bundled with Microsoft.ML.Tokenizers (presets). Ids beyond the tower's vocabulary are refused here, so a
    /// preset with its own vocabulary (BioMedLM) asks for its tokenizer folder instead of embedding garbage.
    /// </summary>
    public Func<string, int[]> CreateTokenizer()
    {
        if (IsBert) return BertTokenizer();
        string? folder = Tokenizer ?? (IsFolder(Text) && File.Exists(Path.Combine(Text, "vocab.json")) ? Text : null);
        var text = TextConfig();
        if (folder is null)
        {
            if (text.VocabSize < BundledGpt2Tokenizer.VocabSize)
                throw new ArgumentException($"text tower '{Text}' has a {text.VocabSize}-token vocabulary, not GPT-2's {BundledGpt2Tokenizer.VocabSize}: " +
                    "give its tokenizer folder (vocab.json + merges.txt) with --tokenizer");
            return BundledGpt2Tokenizer.Encode;
        }
        var tok = Gpt2Tokenizer.Load(Path.Combine(folder, "vocab.json"), Path.Combine(folder, "merges.txt"));
        return tok.Encode;
    }

    /// <summary>WordPiece ([CLS] ... [SEP]) from <see cref="Tokenizer"/>'s or the text folder's vocab.txt, or bert-tiny's vocabulary.</summary>
    Func<string, int[]> BertTokenizer()
    {
        var tok = BertPresets.Tokenizer(Tokenizer ?? Text);
        int vocab = BertPresets.ConfigOf(Text).VocabSize;
        if (tok.VocabSize > vocab)
            throw new ArgumentException($"text tower '{Text}': the tokenizer has {tok.VocabSize} tokens, the BERT's vocabulary only {vocab}");
        return tok.Encode;
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson(string? frozenFingerprint) =>
        JsonSerializer.Serialize(new SavedSpec(this, frozenFingerprint), Json);

    /// <summary>Reads model.json; returns the spec and the frozen-weights fingerprint it was saved with.</summary>
    public static (CleftModelSpec Spec, string? Fingerprint) Read(string path)
    {
        SavedSpec? saved;
        try { saved = JsonSerializer.Deserialize<SavedSpec>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid model spec: {e.Message}", e); }
        catch (FileNotFoundException e) { throw new FileNotFoundException($"{path}: no model spec (is this a run or checkpoint folder?)", path, e); }
        if (saved?.Model is null) throw new InvalidDataException($"{path}: empty model spec");
        return (saved.Model, saved.FrozenFingerprint);
    }

    sealed record SavedSpec(CleftModelSpec Model, string? FrozenFingerprint);
}
