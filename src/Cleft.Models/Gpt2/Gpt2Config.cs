using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cleft.Models.Gpt2;

/// <summary>
/// The GPT-2 hyper-parameters the text encoder needs, as Hugging Face's config.json spells them. Only the
/// tanh-approximated GELU is implemented (gelu_new; gelu_pytorch_tanh is the same function), so any other
/// activation is refused rather than silently computed differently.
/// </summary>
public sealed record Gpt2Config
{
    public int NEmbd { get; init; }
    public int NLayer { get; init; }
    public int NHead { get; init; }
    public int NPositions { get; init; }
    public int VocabSize { get; init; }
    /// <summary>MLP width; HF's n_inner, null there meaning 4 x n_embd.</summary>
    public int NInner { get; init; }
    public float LayerNormEpsilon { get; init; } = 1e-5f;
    public string ActivationFunction { get; init; } = "gelu_new";
    /// <summary>Attention scores further divided by (layer_idx + 1) (BioMedLM: true, gpt2: false).</summary>
    public bool ScaleAttnByInverseLayerIdx { get; init; }
    public int BosTokenId { get; init; }
    public int EosTokenId { get; init; }
    /// <summary>Dropout after each block's attention and MLP projections (HF resid_pdrop), applied only with
    /// <see cref="Gpt2Options.HfDropout"/> in training mode.</summary>
    public float ResidPdrop { get; init; } = 0.1f;
    /// <summary>Dropout on token + position embeddings (HF embd_pdrop), as <see cref="ResidPdrop"/>.</summary>
    public float EmbdPdrop { get; init; } = 0.1f;

    public int HeadDim => NEmbd / NHead;

    static readonly string[] Activations = ["gelu_new", "gelu_pytorch_tanh"];

    /// <summary>OpenAI's 124M gpt2.</summary>
    public static Gpt2Config Gpt2Small() => new()
    {
        NEmbd = 768, NLayer = 12, NHead = 12, NPositions = 1024, VocabSize = 50257, NInner = 3072,
        BosTokenId = 50256, EosTokenId = 50256,
    };

    /// <summary>BioMedLM (stanford-crfm/BioMedLM), CLEFT's text encoder: 2.7B, 32 layers of width 2560.</summary>
    public static Gpt2Config BioMedLm() => new()
    {
        NEmbd = 2560, NLayer = 32, NHead = 20, NPositions = 1024, VocabSize = 28896, NInner = 4 * 2560,
        ScaleAttnByInverseLayerIdx = true, BosTokenId = 28895, EosTokenId = 28895,
    };

    public static Gpt2Config FromFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new InvalidDataException($"{path}: cannot read the GPT-2 config: {e.Message}", e); }
        return FromJson(text, path);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in every error.</summary>
    public static Gpt2Config FromJson(string json, string source)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON: {e.Message}", e); }
        if (node is not JsonObject o) throw new InvalidDataException($"{source}: expected a JSON object");
        if (o["model_type"] is { } mt && Str(o, "model_type", source) != "gpt2")
            throw new InvalidDataException($"{source}: model_type is '{mt}', expected 'gpt2'");
        // HF's scale_attn_weights (default true) divides scores by sqrt(head_dim); the fused attention always does.
        if (o.ContainsKey("scale_attn_weights") && !Bool(o, "scale_attn_weights", source))
            throw new InvalidDataException($"{source}: scale_attn_weights false is not supported (attention always scales by 1/sqrt(head_dim))");
        int nEmbd = Int(o, "n_embd", source, null);
        var cfg = new Gpt2Config
        {
            NEmbd = nEmbd,
            NLayer = Int(o, "n_layer", source, null),
            NHead = Int(o, "n_head", source, null),
            // Old configs carry n_ctx only; HF treats it as the position count.
            NPositions = o.ContainsKey("n_positions") ? Int(o, "n_positions", source, null) : Int(o, "n_ctx", source, null),
            VocabSize = Int(o, "vocab_size", source, null),
            NInner = o["n_inner"] is null ? 4 * nEmbd : Int(o, "n_inner", source, null),
            LayerNormEpsilon = (float)Num(o, "layer_norm_epsilon", source, 1e-5),
            ActivationFunction = o.ContainsKey("activation_function") ? Str(o, "activation_function", source) : "gelu_new",
            ScaleAttnByInverseLayerIdx = Bool(o, "scale_attn_by_inverse_layer_idx", source),
            BosTokenId = Int(o, "bos_token_id", source, 50256),
            EosTokenId = Int(o, "eos_token_id", source, 50256),
            ResidPdrop = (float)Num(o, "resid_pdrop", source, 0.1),
            EmbdPdrop = (float)Num(o, "embd_pdrop", source, 0.1),
        };
        cfg.Validate(source);
        return cfg;
    }

    /// <summary>Throws naming <paramref name="source"/> and the field when a value cannot describe a GPT-2.</summary>
    public void Validate(string source = "Gpt2Config")
    {
        void Need(bool ok, string msg) { if (!ok) throw new InvalidDataException($"{source}: {msg}"); }
        Need(NEmbd > 0 && NLayer > 0 && NHead > 0 && NPositions > 0 && VocabSize > 0 && NInner > 0,
            $"n_embd {NEmbd}, n_layer {NLayer}, n_head {NHead}, n_positions {NPositions}, vocab_size {VocabSize}, n_inner {NInner} must all be positive");
        Need(NEmbd % NHead == 0, $"n_embd {NEmbd} is not divisible by n_head {NHead}");
        Need(LayerNormEpsilon > 0 && float.IsFinite(LayerNormEpsilon), $"layer_norm_epsilon must be positive, got {LayerNormEpsilon}");
        Need(Activations.Contains(ActivationFunction),
            $"activation_function '{ActivationFunction}' is not supported; only GPT-2's tanh GELU ({string.Join(" / ", Activations)}) is implemented");
        Need(ResidPdrop is >= 0f and < 1f && EmbdPdrop is >= 0f and < 1f, $"resid_pdrop {ResidPdrop} / embd_pdrop {EmbdPdrop} must lie in [0, 1)");
        Need(BosTokenId >= 0 && BosTokenId < VocabSize && EosTokenId >= 0 && EosTokenId < VocabSize,
            $"bos_token_id {BosTokenId} / eos_token_id {EosTokenId} must lie in [0, vocab_size {VocabSize})");
    }

    static int Int(JsonObject o, string key, string source, int? fallback)
    {
        var v = o[key];
        if (v is null)
            return fallback ?? throw new InvalidDataException($"{source}: required field '{key}' is missing");
        if (v.GetValueKind() != JsonValueKind.Number || !v.AsValue().TryGetValue(out int i))
        {
            // JSON numbers such as 768.0 are accepted when integral.
            if (v.GetValueKind() == JsonValueKind.Number && v.AsValue().TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
            throw new InvalidDataException($"{source}: '{key}' must be an integer, got {v.ToJsonString()}");
        }
        return i;
    }

    static double Num(JsonObject o, string key, string source, double fallback)
    {
        var v = o[key];
        if (v is null) return fallback;
        if (v.GetValueKind() != JsonValueKind.Number) throw new InvalidDataException($"{source}: '{key}' must be a number, got {v.ToJsonString()}");
        return (double)v;
    }

    static string Str(JsonObject o, string key, string source)
    {
        var v = o[key];
        if (v is null || v.GetValueKind() != JsonValueKind.String) throw new InvalidDataException($"{source}: '{key}' must be a string, got {v?.ToJsonString() ?? "null"}");
        return (string)v!;
    }

    static bool Bool(JsonObject o, string key, string source)
    {
        var v = o[key];
        if (v is null) return false;
        return v.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{source}: '{key}' must be true or false, got {v.ToJsonString()}"),
        };
    }
}
