using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;
using Cleft.Models.Peft;

namespace Cleft.Models.Gpt2;

/// <summary>
/// One pre-LN GPT-2 block: x + c_proj(attention(split(c_attn(ln_1(x))))), then x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))).
/// Adapters (LoRA, IA3) are put on the projections by name afterwards (<see cref="PeftInjection.Inject"/>).
/// </summary>
public sealed class Gpt2Block : Module
{
    readonly Gpt2Config _cfg;

    public Gpt2Block(IBackend device, Rng rng, Gpt2Config config, Gpt2Options options, int layerIdx)
    {
        _cfg = config;
        LayerIdx = layerIdx;
        int c = config.NEmbd;
        Ln1 = AddModule("ln_1", new LayerNorm(device, c, config.LayerNormEpsilon));
        CAttn = Register("attn.c_attn", Gpt2Conv1D.Create(device, rng, c, 3 * c, options));
        AttnProj = Register("attn.c_proj", Gpt2Conv1D.Create(device, rng, c, c, options));
        Ln2 = AddModule("ln_2", new LayerNorm(device, c, config.LayerNormEpsilon));
        Fc = Register("mlp.c_fc", Gpt2Conv1D.Create(device, rng, c, config.NInner, options));
        MlpProj = Register("mlp.c_proj", Gpt2Conv1D.Create(device, rng, config.NInner, c, options));
    }

    Gpt2Conv1D Register(string name, Module layer)
    {
        AddModule(name, layer);
        return new Gpt2Conv1D(() => Child(name));
    }

    /// <summary>HF's 0-based layer_idx (the divisor is layerIdx + 1 with scale_attn_by_inverse_layer_idx).</summary>
    public int LayerIdx { get; }
    public LayerNorm Ln1 { get; }
    public Gpt2Conv1D CAttn { get; }
    public Gpt2Conv1D AttnProj { get; }
    public LayerNorm Ln2 { get; }
    public Gpt2Conv1D Fc { get; }
    public Gpt2Conv1D MlpProj { get; }

    /// <summary>Projections by their HF name inside the block, for checkpoint loading.</summary>
    public IEnumerable<(string Name, Gpt2Conv1D Proj)> Projections() =>
        [("attn.c_attn", CAttn), ("attn.c_proj", AttnProj), ("mlp.c_fc", Fc), ("mlp.c_proj", MlpProj)];

    /// <summary>
    /// x [B, T, C]; <paramref name="keyPaddingMask"/> [B, T] of 0/1 (HF attention_mask) or null. With
    /// <paramref name="dropout"/> (HF resid_pdrop, training only) each branch output is dropped before the residual add.
    /// With <paramref name="rows"/> (indices into the flattened [B * T] positions) only those positions leave the
    /// block, [rows, C]: attention still reads every position, but c_proj, the residual and the MLP run on the kept
    /// rows alone. Every op after attention is row-wise, so the kept rows are those of the full output (up to the
    /// summation order of a GEMM over fewer rows); a last block whose caller pools one position per sequence skips
    /// three quarters of its matrix work.
    /// </summary>
    public Tensor Forward(Tensor x, IntTensor? keyPaddingMask, Rng? dropout = null, IntTensor? rows = null)
    {
        if (rows is not null && dropout is not null && Training)
            throw new ArgumentException("Gpt2Block: kept rows and training-mode dropout do not mix (the dropout mask covers every position)");
        Tensor mid;
        using (var attn = Drop(Attend(x, keyPaddingMask, rows), dropout))
            if (rows is null) mid = Ops.Add(x, attn);
            else
                using (var kept = KeptRows(x, rows))
                    mid = Ops.Add(kept, attn);
        using (mid)
        using (var mlp = Drop(FeedForward(mid), dropout))
            return Ops.Add(mid, mlp);
    }

    // Intermediates are disposed as soon as the next op has run, as torch frees its temporaries: what a backward
    // needs was saved by its op, so with the frozen base only the inputs of the adapted projection, attention's
    // qkv and o and GELU's input stay (a frozen c_proj saves nothing of its input).

    /// <summary>c_proj(attention(split(c_attn(ln_1(x))))), at the kept <paramref name="rows"/> only when given.</summary>
    Tensor Attend(Tensor x, IntTensor? keyPaddingMask, IntTensor? rows)
    {
        Tensor qkv;
        using (var normed = Ln1.Forward(x)) qkv = CAttn.Forward(normed);
        // q, k, v stay in c_attn's [B, T, 3C] output (HF's split into heads is the kernel's layout); o comes back merged.
        Tensor o;
        using (qkv) o = Ops.AttentionPacked(qkv, _cfg.NHead, causal: true, keyPaddingMask, _cfg.ScaleAttnByInverseLayerIdx ? LayerIdx : null);
        using (o)
        {
            if (rows is null) return AttnProj.Forward(o);
            using var kept = KeptRows(o, rows);
            return AttnProj.Forward(kept);
        }
    }

    /// <summary>Rows <paramref name="rows"/> of x [B, T, C] taken as [B * T, C]: [rows, C] (the gather saves nothing of x).</summary>
    internal static Tensor KeptRows(Tensor x, IntTensor rows)
    {
        using var flat = Ops.Reshape(x, -1, x.Dim(-1));
        return Ops.IndexSelect(flat, rows);
    }

    /// <summary>mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))).</summary>
    Tensor FeedForward(Tensor x)
    {
        using var normed = Ln2.Forward(x);
        using var hidden = Fc.Forward(normed);
        using var act = Ops.Gelu(hidden);
        return MlpProj.Forward(act);
    }

    /// <summary>HF's resid_pdrop on a branch output; the undropped output is dropped at once.</summary>
    Tensor Drop(Tensor y, Rng? dropout)
    {
        if (dropout is null) return y;
        using (y) return Ops.Dropout(y, _cfg.ResidPdrop, dropout, Training);
    }

}
