using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Clip;
using Cleft.Models.Gpt2;
using Cleft.Models.Vision;

namespace Cleft.Models.Recipe;

/// <summary>
/// CLEFT (docs/RECIPE.md §vision, §text, §stage-1): a trainable DINOv2-style ViT (<see cref="Image"/>, mean over
/// all tokens + Linear to the joint space), a frozen GPT-2 with LoRA on c_attn (<see cref="Text"/>, EOS hidden state + Linear), and a
/// learnable logit scale (<see cref="Head"/>). Which parameters train follows the configs: the ViT and both
/// projections always, the GPT-2 base only as <see cref="Gpt2Options"/> says (frozen by default, LoRA trainable).
/// The same model with a fully fine-tuned BERT text tower (<see cref="CleftConfig.Bert"/>, <see cref="BertTextEncoder"/>)
/// is the BERT-CLIP baseline: everything here but stage 2 works through <see cref="TextTower"/> for either.
/// Parameter names: image.*, text.*, head.scale.logit_scale.
/// </summary>
public sealed partial class CleftModel : Module
{
    CleftModel(CleftConfig config, VitImageEncoder image, TextTower text, Func<string, int[]> tokenize, IBackend device)
    {
        Config = config;
        Device = device;
        Tokenize = tokenize;
        Image = AddModule("image", image);
        Text = AddModule("text", text);
        Head = AddModule("head", new ContrastiveHead(device, config.SumLoss, config.ClampLogitScale));
    }

    /// <summary>Freshly initialised towers (tests, or the start of a from-scratch run).</summary>
    public static CleftModel Create(IBackend device, CleftConfig config, Func<string, int[]> tokenize, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenize);
        config.Validate();
        VitImageEncoder? image = null;
        try
        {
            image = new VitImageEncoder(device, rng, config.Vision, config.ImageSize, config.EmbedDim);
            return new CleftModel(config, image, NewText(device, config, rng), tokenize, device);
        }
        catch { image?.Dispose(); throw; }
    }

    /// <summary>
    /// Pretrained towers: the ViT from an HF safetensors file (<see cref="VitCheckpoint"/>) and the GPT-2 from an
    /// HF directory (<see cref="Gpt2Checkpoint"/>; its config.json replaces <see cref="CleftConfig.Text"/>). The
    /// projections, LoRA and the logit scale start fresh.
    /// </summary>
    public static CleftModel FromPretrained(IBackend device, CleftConfig config, string vitWeights, string gpt2Directory,
        Func<string, int[]> tokenize, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenize);
        VitImageEncoder? image = null;
        Gpt2TextEncoder? text = null;
        try
        {
            text = Gpt2TextEncoder.FromPretrained(device, gpt2Directory, config.TextOptions, rng, config.EmbedDim);
            config = config with { Text = text.Transformer.Config };
            config.Validate();
            image = new VitImageEncoder(device, rng, config.Vision, config.ImageSize, config.EmbedDim);
            VitCheckpoint.Load(image.Vit, vitWeights);
            return new CleftModel(config, image, text, tokenize, device);
        }
        catch { image?.Dispose(); text?.Dispose(); throw; }
    }

    public CleftConfig Config { get; }
    public IBackend Device { get; }
    public Func<string, int[]> Tokenize { get; }
    public VitImageEncoder Image { get; }
    public TextTower Text { get; }
    /// <summary>The GPT-2 text tower, for what only CLEFT's tower has (stage 2's prompts, its fp16 base); throws for BERT-CLIP.</summary>
    public Gpt2TextEncoder Gpt2Text => Text as Gpt2TextEncoder
        ?? throw new NotSupportedException("this needs CLEFT's GPT-2 text tower; the model's text tower is a BERT (the BERT-CLIP baseline), " +
            "which has no prompt learning (stage 2) here");
    public ContrastiveHead Head { get; }
    public LogitScale LogitScale => Head.Scale;
    public int EosId => Gpt2Text.Transformer.Config.EosTokenId;

    /// <summary>Host pixels [B, 3, S, S] as a (scoped) device tensor.</summary>
    public Tensor Pixels(float[] pixels, int batch) =>
        PixelBatch.ToTensor(Device, pixels, batch, Config.ImageSize, Config.Vision.Channels, "CleftModel");

    /// <summary>Captions tokenized, padded with the tower's pad id (GPT-2: eos) to <see cref="CleftConfig.MaxTextLength"/>; dispose after backward.</summary>
    public Gpt2TextBatch TextBatch(IReadOnlyList<string> captions) =>
        CaptionEncoding.Encode(Device, Tokenize, captions, Config.MaxTextLength, Text.PadId, Text.KeepsClosingToken);

    /// <summary>L2-normalised image embeddings [B, EmbedDim].</summary>
    public Tensor EncodeImages(Tensor pixels) => Ops.L2Normalize(Image.Forward(pixels));

    /// <summary>L2-normalised text embeddings [B, EmbedDim].</summary>
    public Tensor EncodeTexts(Gpt2TextBatch texts) => Ops.L2Normalize(Text.Forward(texts));

    /// <summary>
    /// The symmetric contrastive loss of paired images and captions (mean or sum per <see cref="CleftConfig.SumLoss"/>);
    /// with a <paramref name="group"/> of several ranks, over the global batch (see <see cref="ContrastiveHead.Forward"/>).
    /// </summary>
    public Tensor Forward(Tensor pixels, Gpt2TextBatch texts, Kernels.Distributed.ICommunicator? group = null)
    {
        if (pixels.Shape[0] != texts.Batch)
            throw new ArgumentException($"CleftModel: {pixels.Shape[0]} images but {texts.Batch} captions");
        using Tensor img = Image.Forward(pixels), txt = Text.Forward(texts);
        return Head.Forward(img, txt, group);
    }

    /// <summary>A freshly initialised text tower of the config's kind, its projection to the joint space included.</summary>
    static TextTower NewText(IBackend device, CleftConfig config, Rng rng) => config.Bert is { } bert
        ? new BertTextEncoder(device, bert, rng, config.EmbedDim)
        : new Gpt2TextEncoder(device, config.Gpt2("CleftModel"), config.TextOptions, rng, config.EmbedDim);

    /// <summary>Trainable parameters by name (what a checkpoint holds, LoRA included).</summary>
    public IEnumerable<(string Name, Parameter Param)> TrainableNamedParameters() =>
        NamedParameters().Where(x => x.Param.RequiresGrad);
}
