using System.Diagnostics;
using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;
using Cleft.Models.Vision;
using Cleft.Train.Training;

namespace Cleft.Benchmarks;

/// <summary>
/// One small CLEFT model for the cleft-step case; the case's "size" is <see cref="VitHidden"/>. Everything not
/// named here is shared by both configs and by benchmarks/torch_cleft_step.py (its constants): 224 px images,
/// patch 16, 4 registers, joint dim 512, captions of 64 tokens, GPT-2's vocabulary, LoRA r 8 / alpha 32 /
/// dropout 0 on c_attn over a frozen base.
/// </summary>
public sealed record CleftStepConfig(int VitHidden, int VitLayers, int VitHeads, int GptEmbd, int GptLayers, int GptHeads, int Batch)
{
    public const int ImageSize = 224, Patch = 16, Registers = 4, EmbedDim = 512, TextLength = 64;
    public const int Vocab = 50257, Positions = 1024, LoraRank = 8;
    public const float LoraAlpha = 32f;
    public const int Eos = Vocab - 1;
    /// <summary>ViT sequence length: (224 / 16)^2 patches + class token + registers.</summary>
    public const int Tokens = ImageSize / Patch * (ImageSize / Patch) + 1 + Registers;

    public static readonly CleftStepConfig[] All =
    [
        new(192, 4, 3, 256, 4, 4, 32),
        new(384, 6, 6, 512, 4, 8, 16),
    ];

    public static CleftStepConfig ForSize(int size) => All.FirstOrDefault(c => c.VitHidden == size)
        ?? throw new ArgumentException($"cleft-step: no config of ViT width {size}; its sizes are {string.Join(", ", All.Select(c => c.VitHidden))}");

    public override string ToString() =>
        $"ViT {VitHidden}x{VitLayers} ({VitHeads} heads) + GPT-2 {GptEmbd}x{GptLayers} ({GptHeads} heads), batch {Batch}";

    /// <summary>The shape arguments of torch_cleft_step.py.</summary>
    public string[] TorchArgs() =>
        ["--vit", $"{VitHidden},{VitLayers},{VitHeads}", "--gpt", $"{GptEmbd},{GptLayers},{GptHeads}", "--batch", $"{Batch}"];

    public CleftConfig ModelConfig() => new(
        new VitConfig(VitHidden, VitLayers, VitHeads, Patch, ImageSize, 3, Registers, 4.0, 1.0f, 1e-6f),
        new Gpt2Config
        {
            NEmbd = GptEmbd, NLayer = GptLayers, NHead = GptHeads, NPositions = Positions, VocabSize = Vocab,
            NInner = 4 * GptEmbd, BosTokenId = Eos, EosTokenId = Eos,
        },
        // Dropout 0 (CLEFT's is 0.1) so both sides do exactly the same arithmetic.
        new Gpt2Options { Lora = new LoraConfig(LoraRank, LoraAlpha, 0f, ["c_attn"]) },
        ImageSize, EmbedDim, TextLength);

    /// <summary>Real tokens of caption b, 16..64, some rows unpadded. Must match torch_cleft_step.lengths.</summary>
    public static int CaptionLength(int b) => 16 + b * 13 % 49;

    /// <summary>A scattered token id below eos for position t of caption b. Must match torch_cleft_step.token_id.</summary>
    public static int TokenId(int b, int t) => (int)(((long)b * 7919 + (long)t * 104729 + 12345) % Eos);
}

/// <summary>Trainable and total parameter counts, per tower, as both sides print them.</summary>
public readonly record struct CleftStepCounts(long Image, long Text, long Head, long Total)
{
    public long Trainable => Image + Text + Head;
    public override string ToString() => $"trainable {Trainable:N0} (image {Image:N0}, text {Text:N0}, head {Head:N0}), total {Total:N0}";
}

/// <summary>One round's medians: a whole step, and forward + loss read alone (the step minus it is backward + AdamW).</summary>
public readonly record struct StepTimes(double StepSeconds, double ForwardSeconds)
{
    public double BackwardSeconds => StepSeconds - ForwardSeconds;
}

/// <summary>
/// Our side of cleft-step: a fresh <see cref="CleftModel"/> on the managed CPU backend trained by
/// <see cref="Stage1Trainer"/> (AdamW, weight decay on matrices, clamped logit scale) on one fixed batch of
/// random pixels and token ids. The captions are row numbers and the tokenizer maps row b to its ids, so
/// <see cref="Stage1Trainer.TrainStep"/> runs unchanged and the tokenizer costs nothing.
/// </summary>
public sealed class CleftStepCase : IDisposable
{
    readonly CpuBackend _device = new();
    readonly CleftModel _model;
    readonly Stage1Trainer _trainer;
    readonly float[] _pixels;
    readonly string[] _captions;

    public CleftStepCase(CleftStepConfig config)
    {
        Config = config;
        var ids = Enumerable.Range(0, config.Batch)
            .Select(b => Enumerable.Range(0, CleftStepConfig.CaptionLength(b)).Select(t => CleftStepConfig.TokenId(b, t)).ToArray())
            .ToArray();
        _captions = Enumerable.Range(0, config.Batch).Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        _model = CleftModel.Create(_device, config.ModelConfig(), caption => ids[int.Parse(caption, System.Globalization.CultureInfo.InvariantCulture)], new Rng(42));
        _trainer = new Stage1Trainer(_model, new Stage1Options { LearningRate = 1e-4f, WarmupSteps = 0, TotalSteps = 1_000_000 });
        _pixels = Data.Uniform((long)config.Batch * 3 * CleftStepConfig.ImageSize * CleftStepConfig.ImageSize, 5);
    }

    public CleftStepConfig Config { get; }

    // CLEFT_DUMP_POOL=1: Forward lists the pool's live buffers by size class (read once, not inside the timed pass).
    static readonly bool DumpPool = Environment.GetEnvironmentVariable("CLEFT_DUMP_POOL") == "1";

    /// <summary>The backend, for its buffer pool's statistics.</summary>
    public CpuBackend Device => _device;

    public CleftStepCounts Counts => new(_model.Image.ParameterCount(trainableOnly: true), _model.Text.ParameterCount(trainableOnly: true),
        _model.Head.ParameterCount(trainableOnly: true), _model.ParameterCount() + _model.Text.HalfParameterCount);

    public void Step() => _trainer.TrainStep(_pixels, _captions);

    /// <summary>
    /// What <see cref="Stage1Trainer.TrainStep"/> does before backward: batch upload, forward (graph built), loss read.
    /// Returns the buffer pool's live bytes at its end: what the graph holds for backward.
    /// </summary>
    public long Forward()
    {
        using var scope = new TensorScope();
        using var texts = _model.TextBatch(_captions);
        _model.Forward(_model.Pixels(_pixels, Config.Batch), texts).Item();
        if (DumpPool)
            foreach (var x in _device.Pool.LiveBySize()) Console.WriteLine($"  {x.Type} {x.Elements} x{x.Buffers} = {x.Bytes / 1048576.0:F1} MiB");
        return _device.Pool.LiveBytes;
    }

    /// <summary>Warm-up steps, then the median of <paramref name="steps"/> timed steps and of <paramref name="forwards"/> forward passes.</summary>
    public StepTimes Measure(int warmup, int steps, int forwards) =>
        new(MedianOf(Step, warmup, steps), MedianOf(() => Forward(), 0, forwards));

    static double MedianOf(Action run, int warmup, int count)
    {
        for (int i = 0; i < warmup; i++) run();
        var times = new double[count];
        for (int i = 0; i < count; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(times);
        return count % 2 == 1 ? times[count / 2] : 0.5 * (times[count / 2 - 1] + times[count / 2]);
    }

    public void Dispose()
    {
        _trainer.Dispose();
        _model.Dispose();
        _device.Dispose();
    }
}
