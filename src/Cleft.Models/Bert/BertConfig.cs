using System.Text.Json;
using static Cleft.Models.ConfigJson;

namespace Cleft.Models.Bert;

/// <summary>
/// Shape of a BERT encoder, as Hugging Face's BertConfig spells it in config.json. Only what BertModel's forward
/// computes without dropout is described: absolute positions, the exact erf GELU (hidden_act "gelu"); other
/// position types or activations are refused rather than silently computed differently.
/// </summary>
public sealed record BertConfig(
    int HiddenSize, int Layers, int Heads, int IntermediateSize, int VocabSize, int MaxPositions, int TypeVocabSize,
    float LayerNormEps = 1e-12f, int PadTokenId = 0)
{
    /// <summary>bert-base-uncased (PTUnifier's text encoder): 768 wide, 12 layers, 12 heads, 30,522 tokens.</summary>
    public static BertConfig BertBaseUncased => new(768, 12, 12, 3072, 30522, 512, 2);

    /// <summary>A tiny config for tests, the shape of tests/fixtures/generators/bert_tiny.py's model.</summary>
    public static BertConfig Tiny(int vocabSize) => new(32, 2, 4, 64, vocabSize, 64, 2);

    public int HeadDim => HiddenSize / Heads;

    /// <summary>Throws naming <paramref name="source"/> and the offending field if the shape is unusable.</summary>
    public BertConfig Validate(string source = "BertConfig")
    {
        void Need(bool ok, string what) { if (!ok) throw new InvalidDataException($"{source}: {what}"); }
        Need(HiddenSize > 0 && Layers > 0 && Heads > 0 && IntermediateSize > 0,
            $"hidden_size {HiddenSize}, num_hidden_layers {Layers}, num_attention_heads {Heads}, intermediate_size {IntermediateSize} must be positive");
        Need(HiddenSize % Heads == 0, $"hidden_size {HiddenSize} is not a multiple of num_attention_heads {Heads}");
        Need(VocabSize > 0 && MaxPositions > 0 && TypeVocabSize > 0,
            $"vocab_size {VocabSize}, max_position_embeddings {MaxPositions}, type_vocab_size {TypeVocabSize} must be positive");
        Need(LayerNormEps > 0 && float.IsFinite(LayerNormEps), $"layer_norm_eps {LayerNormEps} must be positive");
        Need(PadTokenId >= 0 && PadTokenId < VocabSize, $"pad_token_id {PadTokenId} must lie in [0, vocab_size {VocabSize})");
        return this;
    }

    /// <summary>Reads a Hugging Face config.json (model_type bert); every error names the file.</summary>
    public static BertConfig FromJson(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e); }
        catch (IOException e) { throw new InvalidDataException($"{path}: cannot read the BERT config: {e.Message}", e); }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object, got {root.ValueKind}");
        if (Str(root, "model_type", path) is { } mt && mt != "bert")
            throw new InvalidDataException($"{path}: model_type '{mt}' is not bert");
        if ((Str(root, "hidden_act", path) ?? "gelu") is var act && act != "gelu")
            throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (only BERT's exact erf 'gelu')");
        if ((Str(root, "position_embedding_type", path) ?? "absolute") is var pos && pos != "absolute")
            throw new InvalidDataException($"{path}: position_embedding_type '{pos}' is not supported (only 'absolute')");
        if (Bool(root, "is_decoder", path) == true)
            throw new InvalidDataException($"{path}: is_decoder = true (causal BERT) is not supported");
        return new BertConfig(
            HiddenSize: Int(root, "hidden_size", path, 768),
            Layers: Int(root, "num_hidden_layers", path, 12),
            Heads: Int(root, "num_attention_heads", path, 12),
            IntermediateSize: Int(root, "intermediate_size", path, 3072),
            VocabSize: Int(root, "vocab_size", path, 30522),
            MaxPositions: Int(root, "max_position_embeddings", path, 512),
            TypeVocabSize: Int(root, "type_vocab_size", path, 2),
            LayerNormEps: (float)(Num(root, "layer_norm_eps", path) ?? 1e-12),
            PadTokenId: Int(root, "pad_token_id", path, 0)).Validate(path);
    }

    static int Int(JsonElement root, string name, string path, int fallback) => Field(root, name) is not { } v ? fallback
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i
        : throw new InvalidDataException($"{path}: {name} must be an integer, got {v.GetRawText()}");
}
