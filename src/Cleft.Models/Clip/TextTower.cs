using Cleft.Autograd;
using Cleft.Models.Gpt2;

namespace Cleft.Models.Clip;

/// <summary>
/// A CLIP text tower: a right-padded token batch in, raw text embeddings [B, EmbedDim] out (the contrastive head
/// L2-normalises them). CLEFT's GPT-2 (<see cref="Gpt2TextEncoder"/>) and the BERT-CLIP baseline's BERT
/// (<see cref="Bert.BertTextEncoder"/>) both implement it, so <see cref="Recipe.CleftModel"/>, its training, persistence and
/// evaluations do not depend on which one a run uses. The batch type is <see cref="Gpt2TextBatch"/> (ids, mask and
/// the EOS gather index, which a tower that pools otherwise ignores).
/// </summary>
public abstract class TextTower : Module
{
    /// <summary>Text embeddings [B, EmbedDim], before normalisation.</summary>
    public abstract Tensor Forward(Gpt2TextBatch batch);

    /// <summary>The id padding positions carry (GPT-2: eos, whose hidden state is the feature; BERT: [PAD]).</summary>
    public abstract int PadId { get; }

    /// <summary>
    /// True when the tokenizer frames each caption with a closing token that truncation must keep (BERT's [SEP],
    /// as HF's truncation does); false when the ids are cut at the maximum length as they are (GPT-2).
    /// </summary>
    public abstract bool KeepsClosingToken { get; }

    /// <summary>The transformer under the projection: where PEFT adapters are injected, saved and loaded.</summary>
    public abstract Module Backbone { get; }

    /// <summary>Frozen weights stored outside parameters (fp16 matrices), counted with the model's size.</summary>
    public virtual long HalfParameterCount => 0;

    /// <summary>Those fp16 weights by name (relative to the tower), for the frozen-weights fingerprint.</summary>
    public virtual IEnumerable<(string Name, float[] Values)> HalfWeights() => [];
}
