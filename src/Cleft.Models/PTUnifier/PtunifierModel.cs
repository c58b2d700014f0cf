using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Layers;
using Cleft.Models.Text;
using Cleft.Models.Vision;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// PTUnifier (ICCV 2023; docs/PTUNIFIER.md): a ViT (<see cref="Vision"/>) and a BERT (<see cref="Text"/>), a visual and a
/// textual prompt pool, a co-attention fusion module and the heads of the three objectives (ITC projection, ITM
/// classifier, MLM head tied to the word embeddings). Any input is a pair: an image without text is fused with pseudo
/// text (the textual pool's rows picked by the image's mean patch embedding, run through BERT as inputs_embeds behind
/// [CLS]); a text without image with a pseudo image (the visual pool's rows picked by the caption's mean token
/// embedding, run through the ViT blocks behind its CLS). Everything trains. Parameter names: vision.*, text.*,
/// visual_pool.prompts, textual_pool.prompts, fusion.*, itc.*, itm.*, mlm.*; random stream "objectives".
/// </summary>
public sealed partial class PtunifierModel : Module
{
    public PtunifierModel(IBackend device, PtunifierConfig config, BertWordPieceTokenizer tokenizer, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        Config = config.Validate();
        if (tokenizer.VocabSize > config.Text.VocabSize)
            throw new ArgumentException($"PtunifierModel: the tokenizer has {tokenizer.VocabSize} tokens, the text tower's vocabulary only {config.Text.VocabSize}");
        Device = device;
        Tokenizer = tokenizer;
        int h = config.Hidden;
        float eps = config.Text.LayerNormEps;
        Vision = AddModule("vision", new VisionTransformer(device, rng, config.Vision, config.ImageSize));
        Text = AddModule("text", new BertModel(device, rng, config.Text));
        VisualPool = AddModule("visual_pool", new PromptPool(device, rng, config.PoolSize, h, config.VisualPrompts));
        TextualPool = AddModule("textual_pool", new PromptPool(device, rng, config.PoolSize, h, config.TextualPrompts));
        Fusion = AddModule("fusion", new CoAttentionFusion(device, rng, h, config.FusionHeads, config.FusionLayers, eps));
        Itc = AddModule("itc", new Linear(device, rng, 2 * h, config.EmbedDim));
        Itm = AddModule("itm", new Linear(device, rng, 2 * h, 2));
        Mlm = AddModule("mlm", new MlmHead(device, rng, h, Text.Embeddings.Word, eps));
        ObjectiveRng = AddRandomStream("objectives", new Rng(rng.NextUInt64()));
        LogitScale = Parameter.Full(device, MathF.Log(1f / config.Temperature), 1);
        LogitScale.RequiresGrad = false;
    }

    public PtunifierConfig Config { get; }
    public IBackend Device { get; }
    public BertWordPieceTokenizer Tokenizer { get; }
    public VisionTransformer Vision { get; }
    public BertModel Text { get; }
    public PromptPool VisualPool { get; }
    public PromptPool TextualPool { get; }
    public CoAttentionFusion Fusion { get; }
    public Linear Itc { get; }
    public Linear Itm { get; }
    public MlmHead Mlm { get; }
    /// <summary>Draws MLM masks and ITM negatives; a checkpoint keeps its state, so resumed runs draw the same.</summary>
    public Rng ObjectiveRng { get; }
    /// <summary>ln(1 / temperature), fixed (PTUnifier's ITC does not learn it); not a registered parameter.</summary>
    public Parameter LogitScale { get; }

    /// <summary>Host pixels [B, C, S, S] as a (scoped) device tensor.</summary>
    public Tensor Pixels(float[] pixels, int batch) =>
        PixelBatch.ToTensor(Device, pixels, batch, Config.ImageSize, Config.Vision.Channels, "PtunifierModel");

    /// <summary>Captions as [CLS] ... [SEP] [PAD]..., <see cref="PtunifierConfig.MaxTextLength"/> long.</summary>
    public TextInput Encode(IReadOnlyList<string> captions, PtunifierBatch owner)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.Count == 0) throw new ArgumentException("PtunifierModel: no captions");
        var (ids, mask, _) = Tokenizer.EncodeBatch(captions, Config.MaxTextLength);
        return TextInput.Create(owner, ids, mask, captions.Count, Config.MaxTextLength);
    }

    /// <summary>The ViT's tokens [B, Tv, H] and the pool query: the mean of the patch embeddings (+ positions), CLS and registers excluded.</summary>
    public Tensor ImageTokens(Tensor pixels, out Tensor query)
    {
        var x = Vision.Embeddings.Forward(pixels);
        int registers = Config.Vision.RegisterTokens, patches = x.Dim(1) - 1 - registers;
        // Only the (host-side, non-differentiable) pool selection reads the query: no graph for it.
        using (GradMode.NoGrad()) query = Ops.Mean(Ops.Slice(x, 1, 1 + registers, patches), 1);
        return RunVision(x);
    }

    /// <summary>BERT's last hidden state [B, T, H] and the pool query: the masked mean of the word embeddings, [CLS] excluded.</summary>
    public Tensor TextTokens(TextInput text, out Tensor query)
    {
        int b = text.Batch, t = text.Length;
        var weights = new float[b * t];
        for (int i = 0; i < b; i++)
        {
            int count = 0;
            for (int j = 1; j < t; j++) count += text.HostMask[i * t + j];
            for (int j = 1; j < t; j++) weights[i * t + j] = count == 0 ? 0f : text.HostMask[i * t + j] / (float)count;
        }
        using (GradMode.NoGrad())
            query = Ops.Sum(Ops.Mul(Ops.Embedding(Text.Embeddings.Word, text.Ids), Tensor.FromArray(Device, weights, b, t, 1)), 1);
        return Text.Forward(text.Ids, text.Mask).LastHiddenState;
    }

    /// <summary>Pseudo-image tokens [B, 1 + k, H]: the ViT's CLS (+ its position) then the visual pool's picks, through the ViT blocks.</summary>
    public Tensor PseudoImageTokens(Tensor textQuery, PtunifierBatch owner)
    {
        var prompts = VisualPool.Forward(textQuery, owner);
        int b = prompts.Dim(0), h = Config.Hidden;
        var cls = Ops.Add(Ops.Reshape(Vision.Embeddings.ClsToken, 1, h), Ops.Reshape(Ops.Slice(Vision.Embeddings.PositionEmbeddings, 1, 0, 1), 1, h));
        return RunVision(Ops.Concat(1, Ops.Repeat(cls, b), prompts));
    }

    /// <summary>Pseudo-text tokens [B, 1 + k, H]: [CLS]'s word embedding then the textual pool's picks, through BERT (inputs_embeds).</summary>
    public Tensor PseudoTextTokens(Tensor imageQuery, PtunifierBatch owner)
    {
        var prompts = TextualPool.Forward(imageQuery, owner);
        int b = prompts.Dim(0), h = Config.Hidden;
        var cls = Ops.Reshape(Ops.Slice(Text.Embeddings.Word, 0, Tokenizer.ClsId, 1), 1, h);
        return Text.ForwardEmbeddings(Ops.Concat(1, Ops.Repeat(cls, b), prompts)).LastHiddenState;
    }

    Tensor RunVision(Tensor x)
    {
        foreach (var block in Vision.Blocks) x = block.Forward(x);
        return x;
    }

    /// <summary>The image fused with its pseudo text: pooled pair representation [B, 2H].</summary>
    public Tensor ImagePair(Tensor pixels, PtunifierBatch owner)
    {
        var image = ImageTokens(pixels, out var query);
        return Fusion.Forward(PseudoTextTokens(query, owner), null, image, owner).Pooled;
    }

    /// <summary>The text fused with its pseudo image: pooled pair representation [B, 2H].</summary>
    public Tensor TextPair(TextInput text, PtunifierBatch owner)
    {
        var tokens = TextTokens(text, out var query);
        return Fusion.Forward(tokens, text.HostMask, PseudoImageTokens(query, owner), owner).Pooled;
    }

    /// <summary>L2-normalised ITC embedding [B, EmbedDim] of a pooled pair representation.</summary>
    public Tensor Embed(Tensor pooled) => Ops.L2Normalize(Itc.Forward(pooled));

    /// <summary>Image-only embeddings (image + pseudo text), L2-normalised [B, EmbedDim].</summary>
    public Tensor EncodeImages(Tensor pixels, PtunifierBatch owner) => Embed(ImagePair(pixels, owner));

    /// <summary>Text-only embeddings (pseudo image + text), L2-normalised [B, EmbedDim].</summary>
    public Tensor EncodeTexts(TextInput text, PtunifierBatch owner) => Embed(TextPair(text, owner));

    public override void Dispose()
    {
        LogitScale.Dispose();
        base.Dispose();
    }
}
