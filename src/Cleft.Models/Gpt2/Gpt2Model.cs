using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;
using Cleft.Models.Peft;

namespace Cleft.Models.Gpt2;

/// <summary>
/// Hugging Face's GPT2Model: wte + wpe, n_layer blocks, ln_f; ids [B, T] -> hidden states [B, T, C] after
/// ln_f. Parameter names are HF's without the "transformer." prefix ("wte.weight", "h.0.ln_1.weight", ...),
/// so PEFT adapter keys come out as base_model.model.h.{i}.attn.c_attn.lora_A.weight. Position ids are
/// arange(T), as HF uses when none are passed (right padding keeps real tokens at 0..n-1).
/// </summary>
public sealed class Gpt2Model : Module
{
    // arange(T) per sequence length, kept for the model's lifetime: the embedding's backward reads its index
    // after Forward returns, so it cannot be a per-call temporary.
    readonly Dictionary<int, IntTensor> _positions = new();
    readonly IBackend _device;
    readonly Rng? _dropout;

    public Gpt2Model(IBackend device, Gpt2Config config, Gpt2Options options, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        config.Validate();
        options.Validate();
        _device = device;
        Config = config;
        Options = options;
        int c = config.NEmbd;
        // GPT-2's own init (normal 0.02); pretrained weights overwrite everything but the adapters.
        Wte = AddParameter("wte.weight", Parameter.Normal(device, rng, 0.02f, config.VocabSize, c));
        Wpe = AddParameter("wpe.weight", Parameter.Normal(device, rng, 0.01f, config.NPositions, c));
        var blocks = new Gpt2Block[config.NLayer];
        for (int i = 0; i < config.NLayer; i++) blocks[i] = AddModule($"h.{i}", new Gpt2Block(device, rng, config, options, i));
        Blocks = blocks;
        LnF = AddModule("ln_f", new LayerNorm(device, c, config.LayerNormEpsilon));
        // Adapters after every base weight, so their draws (LoRA's A) shift none of the base's initial values.
        InjectedModules = options.EffectiveAdapter is { } adapter ? PeftInjection.Inject(this, adapter, rng) : [];
        // Drawn last so enabling dropout does not change any initial weight; its own stream after that.
        _dropout = options.HfDropout ? AddRandomStream("dropout", new Rng(rng.NextUInt64())) : null;
        ApplyTrainability();
    }

    public Gpt2Config Config { get; }
    public Gpt2Options Options { get; }
    public Parameter Wte { get; }
    public Parameter Wpe { get; }
    public IReadOnlyList<Gpt2Block> Blocks { get; }
    public LayerNorm LnF { get; }
    /// <summary>The projections carrying the options' adapter ("h.0.attn.c_attn", ...); empty without one.</summary>
    public IReadOnlyList<string> InjectedModules { get; }

    /// <summary>Freezes the base per <see cref="Options"/>; adapter parameters stay trainable.</summary>
    void ApplyTrainability()
    {
        if (!Options.FreezeBase) return;
        foreach (var (name, p) in NamedParameters())
        {
            bool adapter = PeftInjection.IsAdapterParameter(name);
            bool ln = name.StartsWith("ln_f.", StringComparison.Ordinal) || name.Contains(".ln_1.", StringComparison.Ordinal) || name.Contains(".ln_2.", StringComparison.Ordinal);
            p.RequiresGrad = adapter || (Options.TrainEmbeddings && ReferenceEquals(p, Wte)) || (Options.UnlockLayerNorm && ln);
        }
    }

    /// <summary>Elements held as fp16 (frozen matrices with <see cref="Gpt2Options.HalfBase"/>); not in <see cref="Module.Parameters"/>.</summary>
    public long HalfParameterCount => Blocks.SelectMany(b => b.Projections()).Sum(p => p.Proj.HalfWeight?.Length ?? 0);

    /// <summary>Every parameter, fp32 and fp16.</summary>
    public long TotalParameterCount => ParameterCount() + HalfParameterCount;

    /// <summary>
    /// ids [B, T] in [0, vocab); attentionMask [B, T] of 0/1 or null (no padding). Returns [B, T, C], or with
    /// <paramref name="rows"/> (indices into the flattened [B * T] positions) the ln_f states at those rows only,
    /// [rows, C] (see <see cref="ForwardEmbeddings"/>).
    /// </summary>
    public Tensor Forward(IntTensor ids, IntTensor? attentionMask = null, IntTensor? rows = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Shape.Length != 2)
            throw new ArgumentException($"Gpt2Model: input ids must be [batch, T], got {ids.ShapeString}");
        int t = ids.Shape[1];
        if (t > Config.NPositions)
            throw new ArgumentException($"Gpt2Model: sequence length {t} exceeds n_positions {Config.NPositions}");
        if (ids.Min < 0 || ids.Max >= Config.VocabSize)
            throw new ArgumentException($"Gpt2Model: token ids span [{ids.Min}, {ids.Max}], outside the vocabulary [0, {Config.VocabSize})");
        using var embeds = Ops.Embedding(Wte, ids);
        return ForwardEmbeddings(embeds, attentionMask, rows);
    }

    /// <summary>
    /// HF's inputs_embeds path: token embeddings [B, T, C] supplied by the caller (stage 2's learnable context
    /// vectors sit where word embeddings would), then position embeddings, the blocks and ln_f as in
    /// <see cref="Forward(IntTensor, IntTensor?, IntTensor?)"/>. attentionMask [B, T] of 0/1 or null. Returns [B, T, C].
    /// With <paramref name="rows"/> (indices into the flattened [B * T] positions; a text tower pools one per
    /// sequence) the last block and ln_f run on those rows alone and [rows, C] comes back: the values of gathering
    /// them from the full output (up to float rounding), for a quarter of the last block's work. Not with training-mode
    /// dropout (<see cref="Gpt2Options.HfDropout"/>), whose mask spans every position.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor inputsEmbeds, IntTensor? attentionMask = null, IntTensor? rows = null)
    {
        ArgumentNullException.ThrowIfNull(inputsEmbeds);
        if (inputsEmbeds.Shape.Length != 3 || inputsEmbeds.Shape[2] != Config.NEmbd)
            throw new ArgumentException($"Gpt2Model: input embeddings must be [batch, T, {Config.NEmbd}], got {inputsEmbeds.ShapeString}");
        int t = inputsEmbeds.Shape[1];
        if (t > Config.NPositions)
            throw new ArgumentException($"Gpt2Model: sequence length {t} exceeds n_positions {Config.NPositions}");
        // Each intermediate is ours (inputsEmbeds is the caller's) and goes once the next exists; the ops that
        // need one for backward have saved it.
        Tensor x;
        using (var positions = Ops.Embedding(Wpe, Positions(t))) x = Ops.Add(inputsEmbeds, positions); // [B, T, C] + [T, C]
        if (_dropout is not null) using (var undropped = x) x = Ops.Dropout(undropped, Config.EmbdPdrop, _dropout, Training);
        bool keepRows = rows is not null && Blocks.Count > 0 && !(_dropout is not null && Training);
        for (int i = 0; i < Blocks.Count; i++)
            using (var input = x) x = Blocks[i].Forward(input, attentionMask, _dropout, keepRows && i == Blocks.Count - 1 ? rows : null);
        if (rows is not null && !keepRows)
            using (var all = x) x = Gpt2Block.KeptRows(all, rows);
        using (x) return LnF.Forward(x);
    }

    IntTensor Positions(int t)
    {
        if (!_positions.TryGetValue(t, out var pos))
            _positions[t] = pos = IntTensor.FromArray(_device, Enumerable.Range(0, t).ToArray(), t);
        return pos;
    }

    /// <summary>
    /// The pretrained tensors by HF name with their shapes and a loader each (adapters excluded: they are not in a
    /// base checkpoint). fp16-stored weights are included; they are not parameters.
    /// </summary>
    public IEnumerable<(string Name, int[] Shape, Action<float[]> Load)> CheckpointTensors()
    {
        // Projection weights are yielded through their Gpt2Conv1D (which may hold them in fp16), adapters not at all.
        var skip = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var block in Blocks)
            foreach (var (_, proj) in block.Projections())
                if (proj.Weight is { } w) skip.Add(w);
        foreach (var (name, p) in NamedParameters())
            if (!skip.Contains(p) && !PeftInjection.IsAdapterParameter(name)) yield return (name, p.Shape, v => p.Load(v));
        for (int i = 0; i < Blocks.Count; i++)
            foreach (var (name, proj) in Blocks[i].Projections())
                yield return ($"h.{i}.{name}.weight", [proj.InFeatures, proj.OutFeatures], proj.LoadWeight);
    }

    public override void Dispose()
    {
        foreach (var p in _positions.Values) p.Dispose();
        _positions.Clear();
        base.Dispose();
    }
}
