using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Bert;

/// <summary>
/// HF's BertEmbeddings (embeddings.*): LayerNorm(word[ids] + position[arange(T)] + token_type[type ids]). Dropout
/// is omitted (inference and the parity fixture run without it). Parameter names are HF's:
/// word_embeddings.weight, position_embeddings.weight, token_type_embeddings.weight, LayerNorm.weight / .bias.
/// </summary>
public sealed class BertEmbeddings : Module
{
    // arange(T) per length, kept for the module's lifetime: the embedding backward reads its index after
    // Forward returns, so it cannot be a per-call temporary (as in Gpt2Model).
    readonly Dictionary<int, IntTensor> _positions = new();
    readonly IBackend _device;
    readonly BertConfig _config;

    public BertEmbeddings(IBackend device, Rng rng, BertConfig config)
    {
        _device = device;
        _config = config;
        int h = config.HiddenSize;
        // HF's _init_weights: normal(0, initializer_range 0.02); pretrained weights replace them.
        Word = AddParameter("word_embeddings.weight", Parameter.Normal(device, rng, 0.02f, config.VocabSize, h));
        Position = AddParameter("position_embeddings.weight", Parameter.Normal(device, rng, 0.02f, config.MaxPositions, h));
        TokenType = AddParameter("token_type_embeddings.weight", Parameter.Normal(device, rng, 0.02f, config.TypeVocabSize, h));
        Norm = AddModule("LayerNorm", new LayerNorm(device, h, config.LayerNormEps));
    }

    public Parameter Word { get; }
    public Parameter Position { get; }
    public Parameter TokenType { get; }
    public LayerNorm Norm { get; }

    /// <summary>ids [B, T] -> [B, T, hidden]; tokenTypes [B, T] or null (all segment 0, as HF's default).</summary>
    public Tensor Forward(IntTensor ids, IntTensor? tokenTypes = null)
    {
        if (ids.Shape.Length != 2) throw new ArgumentException($"BertEmbeddings: input ids must be [batch, T], got {ids.ShapeString}");
        if (ids.Min < 0 || ids.Max >= _config.VocabSize)
            throw new ArgumentException($"BertEmbeddings: token ids span [{ids.Min}, {ids.Max}], outside the vocabulary [0, {_config.VocabSize})");
        return ForwardEmbeddings(Ops.Embedding(Word, ids), tokenTypes);
    }

    /// <summary>
    /// HF's inputs_embeds path: word-level embeddings [B, T, hidden] from the caller (e.g. learned prompt vectors
    /// in place of some tokens), then positions, token types and the LayerNorm as in <see cref="Forward"/>.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor inputsEmbeds, IntTensor? tokenTypes = null)
    {
        int h = _config.HiddenSize;
        if (inputsEmbeds.Shape.Length != 3 || inputsEmbeds.Shape[2] != h)
            throw new ArgumentException($"BertEmbeddings: input embeddings must be [batch, T, {h}], got {inputsEmbeds.ShapeString}");
        int b = inputsEmbeds.Shape[0], t = inputsEmbeds.Shape[1];
        if (t > _config.MaxPositions)
            throw new ArgumentException($"BertEmbeddings: sequence length {t} exceeds max_position_embeddings {_config.MaxPositions}");
        var x = Ops.Add(inputsEmbeds, Ops.Embedding(Position, Positions(t)));        // [B, T, h] + [T, h]
        if (tokenTypes is null)
            x = Ops.Add(x, Ops.Reshape(Ops.Slice(TokenType, 0, 0, 1), h));         // segment 0 for every token
        else
        {
            if (!tokenTypes.Shape.SequenceEqual([b, t]))
                throw new ArgumentException($"BertEmbeddings: token type ids {tokenTypes.ShapeString} do not match the input [{b}, {t}]");
            if (tokenTypes.Min < 0 || tokenTypes.Max >= _config.TypeVocabSize)
                throw new ArgumentException($"BertEmbeddings: token type ids span [{tokenTypes.Min}, {tokenTypes.Max}], outside [0, type_vocab_size {_config.TypeVocabSize})");
            x = Ops.Add(x, Ops.Embedding(TokenType, tokenTypes));
        }
        return Norm.Forward(x);
    }

    IntTensor Positions(int t)
    {
        if (!_positions.TryGetValue(t, out var p))
            _positions[t] = p = IntTensor.FromArray(_device, Enumerable.Range(0, t).ToArray(), t);
        return p;
    }

    public override void Dispose()
    {
        foreach (var p in _positions.Values) p.Dispose();
        _positions.Clear();
        base.Dispose();
    }
}
