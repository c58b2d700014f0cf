using System.Text.Json;
using static Cleft.Models.ConfigJson;

namespace Cleft.Models.Vision;

/// <summary>
/// Shape of a DINOv2-with-registers ViT, as Hugging Face's Dinov2WithRegistersConfig. <see cref="ImageSize"/> is
/// the checkpoint's training resolution: it fixes the position-embedding grid (518 / 14 = 37 for the released
/// models). The resolution the model runs at is chosen separately (see <see cref="VisionTransformer"/>).
/// </summary>
public sealed record VitConfig(
    int HiddenSize, int Layers, int Heads, int PatchSize, int ImageSize, int Channels, int RegisterTokens,
    double MlpRatio, float LayerScaleInit, float LayerNormEps, bool QkvBias = true, bool ExactGelu = true)
{
    /// <summary>facebook/dinov2-with-registers-base: 768 wide, 12 layers, 12 heads, patch 14, 518 px, 4 registers.</summary>
    public static VitConfig Dinov2WithRegistersBase => new(768, 12, 12, 14, 518, 3, 4, 4.0, 1.0f, 1e-6f);

    /// <summary>A tiny config for tests: 32 wide, 2 layers, 4 heads, patch 4 on 16 px (4 x 4 patches), 2 registers.</summary>
    public static VitConfig Tiny => new(32, 2, 4, 4, 16, 3, 2, 4.0, 1.0f, 1e-6f);

    public int HeadDim => HiddenSize / Heads;
    public int MlpHidden => (int)(HiddenSize * MlpRatio); // HF: int(hidden_size * mlp_ratio)
    public int PatchDim => Channels * PatchSize * PatchSize;

    /// <summary>Patches per side at <paramref name="imageSize"/> (default: the checkpoint's <see cref="ImageSize"/>).</summary>
    public int Grid(int? imageSize = null) => (imageSize ?? ImageSize) / PatchSize;

    /// <summary>Tokens per image at <paramref name="imageSize"/>: CLS + registers + patches.</summary>
    public int Tokens(int? imageSize = null) => 1 + RegisterTokens + Grid(imageSize) * Grid(imageSize);

    /// <summary>Throws naming <paramref name="source"/> and the offending field if the shape is unusable.</summary>
    public VitConfig Validate(string source = "VitConfig")
    {
        void Need(bool ok, string what) { if (!ok) throw new InvalidDataException($"{source}: {what}"); }
        Need(HiddenSize > 0 && Layers > 0 && Heads > 0, $"hidden_size {HiddenSize}, num_hidden_layers {Layers}, num_attention_heads {Heads} must be positive");
        Need(HiddenSize % Heads == 0, $"hidden_size {HiddenSize} is not a multiple of num_attention_heads {Heads}");
        Need(PatchSize > 0 && ImageSize >= PatchSize, $"patch_size {PatchSize} must be positive and at most image_size {ImageSize}");
        Need(ImageSize % PatchSize == 0, $"image_size {ImageSize} is not a multiple of patch_size {PatchSize}");
        Need(Channels > 0, $"num_channels {Channels} must be positive");
        Need(RegisterTokens >= 0, $"num_register_tokens {RegisterTokens} must be >= 0");
        Need(MlpRatio > 0 && MlpHidden > 0, $"mlp_ratio {MlpRatio} gives an empty MLP");
        Need(LayerNormEps > 0 && float.IsFinite(LayerNormEps), $"layer_norm_eps {LayerNormEps} must be positive");
        Need(float.IsFinite(LayerScaleInit), $"layerscale_value {LayerScaleInit} must be finite");
        return this;
    }

    /// <summary>
    /// Reads a Hugging Face config.json (model_type dinov2_with_registers, or dinov2 = no registers). Fields
    /// this implementation does not support (SwiGLU MLP, activations other than gelu / gelu_new) are errors
    /// rather than silently different models; every error names the file.
    /// </summary>
    public static VitConfig FromJson(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e); }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object, got {root.ValueKind}");

        string? modelType = Str(root, "model_type", path);
        if (modelType is not null and not "dinov2_with_registers" and not "dinov2")
            throw new InvalidDataException($"{path}: model_type '{modelType}' is not dinov2_with_registers (or dinov2)");
        if (Bool(root, "use_swiglu_ffn", path) == true)
            throw new InvalidDataException($"{path}: use_swiglu_ffn = true (the giant models' SwiGLU MLP) is not supported");
        string act = Str(root, "hidden_act", path) ?? "gelu";
        bool exact = act switch
        {
            "gelu" => true,
            "gelu_new" or "gelu_pytorch_tanh" => false,
            _ => throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (gelu, gelu_new, gelu_pytorch_tanh)"),
        };
        var c = new VitConfig(
            HiddenSize: Int(root, "hidden_size", path, 768),
            Layers: Int(root, "num_hidden_layers", path, 12),
            Heads: Int(root, "num_attention_heads", path, 12),
            PatchSize: Int(root, "patch_size", path, 14),
            ImageSize: Int(root, "image_size", path, 518),
            Channels: Int(root, "num_channels", path, 3),
            RegisterTokens: modelType == "dinov2" ? 0 : Int(root, "num_register_tokens", path, 4),
            MlpRatio: Num(root, "mlp_ratio", path) ?? 4.0,
            LayerScaleInit: (float)(Num(root, "layerscale_value", path) ?? 1.0),
            LayerNormEps: (float)(Num(root, "layer_norm_eps", path) ?? 1e-6),
            QkvBias: Bool(root, "qkv_bias", path) ?? true,
            ExactGelu: exact);
        return c.Validate(path);
    }

    static int Int(JsonElement root, string name, string path, int fallback)
    {
        if (Field(root, name) is not { } v) return fallback;
        // image_size / patch_size may be [h, w] in HF configs; only square ones are supported.
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2 && v[0].TryGetInt32(out int h) && v[1].TryGetInt32(out int w))
            return h == w ? h : throw new InvalidDataException($"{path}: {name} [{h}, {w}] is not square");
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
        throw new InvalidDataException($"{path}: {name} must be an integer, got {v.GetRawText()}");
    }
}
