using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Recipe;
using Cleft.Train.Training;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Models.Vision;
using Cleft.Tests.Gpt2;
using Cleft.Tests.Vision;

namespace Cleft.Tests.Recipe;

/// <summary>
/// A tiny CLEFT (the gpt2_tiny and vit_tiny fixtures: n_embd 32, hidden 32, 16 px images, joint dim 16) and
/// generated paired data: an image of class k is bright in quadrant k over noise; its caption is the CheXpert
/// template naming class k. The GPT-2 fixture has 97 tokens, so captions go through a toy word-level tokenizer.
/// </summary>
public static class CleftFixture
{
    public static readonly string[] Classes = ["atelectasis", "edema", "cardiomegaly", "effusion"];
    public const int Size = 16, EmbedDim = 16;

    // Word ids below the fixture's eos (96); unknown words hash into the same range.
    static readonly string[] Words = [.. "this is a chest x ray of patient with".Split(' '), .. Classes];

    public static int[] Tokenize(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Select(w => Array.IndexOf(Words, w) is var i and >= 0 ? i : 20 + (int)((uint)w.GetHashCode(StringComparison.Ordinal) % 70)).ToArray();

    /// <summary>LoRA r 4 without dropout, so resumed runs can be compared bit for bit.</summary>
    public static CleftConfig Config(bool sumLoss = false) => new(
        VitConfig.FromJson(VitFixture.Config), Gpt2Fixture.Config,
        new Gpt2Options { Lora = new LoraConfig(4, 8f, 0f, ["c_attn"]) },
        ImageSize: Size, EmbedDim: EmbedDim, MaxTextLength: 14, SumLoss: sumLoss);

    public static CleftModel Model(IBackend dev, ulong seed = 7, bool sumLoss = false) =>
        CleftModel.FromPretrained(dev, Config(sumLoss), VitFixture.Weights, Gpt2Fixture.Directory, Tokenize, new Rng(seed));

    public static string Caption(int label) => ZeroShotClassifier.Prompts([Classes[label]], ZeroShotClassifier.ChexpertTemplate)[0];

    /// <summary>A batch drawn from its own seed (so any step's batch can be regenerated after a resume).</summary>
    public static (float[] Pixels, string[] Captions, int[] Labels) Batch(ulong seed, int batch)
    {
        var rng = new Rng(seed);
        var labels = new int[batch];
        for (int b = 0; b < batch; b++) labels[b] = rng.NextInt(Classes.Length);
        return (Images(rng, labels), labels.Select(Caption).ToArray(), labels);
    }

    public static float[] Images(Rng rng, int[] labels)
    {
        int plane = Size * Size, half = Size / 2;
        var pixels = new float[labels.Length * 3 * plane];
        rng.FillNormal(pixels, 0f, 0.3f);
        for (int b = 0; b < labels.Length; b++)
        {
            int y0 = labels[b] / 2 * half, x0 = labels[b] % 2 * half;
            for (int c = 0; c < 3; c++)
                for (int y = y0; y < y0 + half; y++)
                    for (int x = x0; x < x0 + half; x++)
                        pixels[(b * 3 + c) * plane + y * Size + x] += 1f;
        }
        return pixels;
    }

    public static Stage1Options Stage1(int steps, string? checkpoints = null) => new()
    {
        LearningRate = 1e-2f, WarmupSteps = 5, TotalSteps = steps, MinLearningRate = 1e-3f,
        MaxGradNorm = 5f, CheckpointDirectory = checkpoints,
    };

    /// <summary>Runs stage 1 for steps [from, to) on batches seeded by the step number.</summary>
    public static List<float> Train(Stage1Trainer trainer, int from, int to, int batch = 8)
    {
        var losses = new List<float>();
        for (int step = from; step < to; step++)
        {
            var (pixels, captions, _) = Batch(1000 + (ulong)step, batch);
            losses.Add(trainer.TrainStep(pixels, captions));
        }
        return losses;
    }
}
