namespace Cleft.Models.Recipe;

/// <summary>
/// The shape of a BERT encoder, only for counting parameters of CLEFT's baseline text tower (no BERT is
/// implemented here). <see cref="BioClinicalBert6"/> is emilyalsentzer/Bio_ClinicalBERT's config.json
/// (vocab_size 28996, hidden_size 768, intermediate_size 3072, max_position_embeddings 512, type_vocab_size 2)
/// with num_hidden_layers cut from 12 to 6, as the baseline the paper compares against.
/// </summary>
public sealed record BertConfig(int VocabSize, int Hidden, int Layers, int Intermediate, int MaxPositions, int TypeVocab)
{
    public static BertConfig BioClinicalBert6 => new(28996, 768, 6, 3072, 512, 2);
}

/// <summary>Parameter arithmetic of HF's BertModel from its config.</summary>
public static class BertParameterCount
{
    /// <summary>
    /// Embeddings + encoder layers, without the pooler unless asked: the paper's ~65.2M counts the encoder alone
    /// (this engine's BERT-CLIP tower, Bert.BertTextEncoder, also trains the pooler: h*h + h more). For the 6-layer Bio_ClinicalBERT:
    /// embeddings 28996*768 + 512*768 + 2*768 + LayerNorm 2*768 = 22,665,216; per layer Q/K/V 3*(768*768 + 768)
    /// + attention output 768*768 + 768 + LayerNorm 1,536 + intermediate 768*3072 + 3072 + output 3072*768 + 768
    /// + LayerNorm 1,536 = 7,087,872; total 22,665,216 + 6 * 7,087,872 = 65,192,448 (the paper's ~65.2M).
    /// </summary>
    public static long Encoder(BertConfig c, bool includePooler = false)
    {
        ArgumentNullException.ThrowIfNull(c);
        long h = c.Hidden, m = c.Intermediate;
        long embeddings = (long)c.VocabSize * h + (long)c.MaxPositions * h + (long)c.TypeVocab * h + 2 * h;
        long layer = 3 * (h * h + h) + (h * h + h) + 2 * h + (h * m + m) + (m * h + h) + 2 * h;
        long pooler = includePooler ? h * h + h : 0;
        return embeddings + c.Layers * layer + pooler;
    }
}
