using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Vision;

/// <summary>
/// DINOv2-with-registers backbone (HF Dinov2WithRegistersModel without the mask token): embeddings,
/// encoder.layer.{i} blocks, final layernorm. Parameter names are HF's, so a checkpoint maps one to one
/// (<see cref="VitCheckpoint"/>). Built for one input resolution, <see cref="ImageSize"/> (224 in CLEFT),
/// which may differ from the config's (the checkpoint's) image size.
/// </summary>
public sealed class VisionTransformer : Module
{
    readonly VitBlock[] _blocks;

    public VisionTransformer(IBackend device, Rng rng, VitConfig config, int? imageSize = null)
    {
        Config = config.Validate();
        ImageSize = imageSize ?? config.ImageSize;
        if (ImageSize < config.PatchSize || ImageSize % config.PatchSize != 0)
            throw new ArgumentException($"VisionTransformer: image size {ImageSize} is not a positive multiple of patch size {config.PatchSize}");
        Embeddings = AddModule("embeddings", new VitEmbeddings(device, rng, config, ImageSize));
        var encoder = AddModule("encoder", new Encoder(device, rng, config));
        _blocks = encoder.Blocks;
        FinalNorm = AddModule("layernorm", new LayerNorm(device, config.HiddenSize, config.LayerNormEps));
    }

    public VitConfig Config { get; }
    public int ImageSize { get; }
    public VitEmbeddings Embeddings { get; }
    public IReadOnlyList<VitBlock> Blocks => _blocks;
    public LayerNorm FinalNorm { get; }

    /// <summary>Tokens per image: CLS + registers + patches.</summary>
    public int Tokens => Config.Tokens(ImageSize);

    /// <summary>pixels [B, C, S, S] -> the last block's output [B, Tokens, hidden], BEFORE the final LayerNorm.</summary>
    public Tensor ForwardTokens(Tensor pixels)
    {
        var x = Embeddings.Forward(pixels);
        foreach (var block in _blocks)
        {
            // Each block's input is ours to drop once the next one exists (the block's ops saved what they need).
            using var input = x;
            x = block.Forward(input);
        }
        return x;
    }

    /// <summary>HF's last_hidden_state: the last block's output after the final LayerNorm.</summary>
    public Tensor Forward(Tensor pixels)
    {
        using var tokens = ForwardTokens(pixels);
        return FinalNorm.Forward(tokens);
    }

    sealed class Encoder : Module
    {
        public Encoder(IBackend device, Rng rng, VitConfig config)
        {
            var layers = AddModule("layer", new Layers());
            Blocks = Enumerable.Range(0, config.Layers).Select(i => layers.Add(i, new VitBlock(device, rng, config))).ToArray();
        }

        public VitBlock[] Blocks { get; }
    }

    /// <summary>Numbered children, giving names encoder.layer.{i}.*.</summary>
    sealed class Layers : Module
    {
        public VitBlock Add(int index, VitBlock block) => AddModule(index.ToString(System.Globalization.CultureInfo.InvariantCulture), block);
    }
}
