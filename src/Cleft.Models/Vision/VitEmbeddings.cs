using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Vision;

/// <summary>
/// Token sequence of Dinov2WithRegistersEmbeddings: [CLS, registers..., patches...]. Position embeddings are
/// added to CLS and the patches only (before the registers are inserted, as HF does); registers get none.
/// The position table is held for the grid the model runs at (<see cref="Grid"/>); a checkpoint trained on
/// another grid is resampled once at load time (<see cref="PositionInterpolation"/>), not on every forward.
/// HF's mask_token (masked-image pretraining only) is not a parameter here.
/// </summary>
public sealed class VitEmbeddings : Module
{
    readonly int _hidden, _registers, _imageSize;

    public VitEmbeddings(IBackend device, Rng rng, VitConfig config, int imageSize)
    {
        _hidden = config.HiddenSize; _registers = config.RegisterTokens; _imageSize = imageSize;
        Grid = config.Grid(imageSize);
        // As HF's _init_weights: cls and positions N(0, 0.02) (HF truncates at 2 std), registers zeros. Pretrained
        // weights replace all of them (VitCheckpoint).
        ClsToken = AddParameter("cls_token", Parameter.Normal(device, rng, 0.02f, 1, 1, _hidden));
        RegisterTokens = _registers > 0 ? AddParameter("register_tokens", Parameter.Zeros(device, 1, _registers, _hidden)) : null;
        PositionEmbeddings = AddParameter("position_embeddings", Parameter.Normal(device, rng, 0.02f, 1, 1 + Grid * Grid, _hidden));
        Patches = AddModule("patch_embeddings", new PatchEmbeddingHolder(device, rng, config)).Projection;
    }

    public int Grid { get; }
    public Parameter ClsToken { get; }
    public Parameter? RegisterTokens { get; }
    public Parameter PositionEmbeddings { get; }
    public PatchEmbedding Patches { get; }

    /// <summary>pixels [B, C, S, S] with S / patch = <see cref="Grid"/> -> [B, 1 + registers + Grid^2, hidden].</summary>
    public Tensor Forward(Tensor pixels)
    {
        // None of these ops saves data for backward, so every intermediate goes once the next one exists.
        using var patches = Patches.Forward(pixels);                             // [B, N, h]
        int b = patches.Dim(0), n = patches.Dim(1);
        if (n != Grid * Grid)
            throw new ArgumentException($"VitEmbeddings: pixels {pixels.Describe()} give {n} patches; the model was built for {Grid} x {Grid} patches ({_imageSize} px images)");
        using var cls = Repeat(ClsToken, 1, b);                                  // [B, 1, h]
        using var joined = Ops.Concat(1, cls, patches);                          // [B, 1 + N, h]
        using var positions = Ops.Reshape(PositionEmbeddings, 1 + n, _hidden);
        var tokens = Ops.Add(joined, positions);                                 // trailing-shape broadcast over B
        if (RegisterTokens is null) return tokens;
        using (tokens)
        using (var regs = Repeat(RegisterTokens, _registers, b))                 // [B, R, h]
        using (var first = Ops.Slice(tokens, 1, 0, 1))
        using (var rest = Ops.Slice(tokens, 1, 1, n))
            return Ops.Concat(1, first, regs, rest);
    }

    /// <summary>A [1, rows, h] parameter repeated over the batch: [B, rows, h].</summary>
    Tensor Repeat(Parameter p, int rows, int batch)
    {
        using var flat = Ops.Reshape(p, rows, _hidden);
        return Ops.Repeat(flat, batch);
    }

    /// <summary>Gives the conv its HF name, embeddings.patch_embeddings.projection.*.</summary>
    sealed class PatchEmbeddingHolder : Module
    {
        public PatchEmbeddingHolder(IBackend device, Rng rng, VitConfig config) =>
            Projection = AddModule("projection", new PatchEmbedding(device, rng, config));

        public PatchEmbedding Projection { get; }
    }
}
