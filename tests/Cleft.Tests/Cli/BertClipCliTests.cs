using System.Text.Json.Nodes;
using Cleft.Tests.Data;
using Xunit.Abstractions;

namespace Cleft.Tests.Cli;

/// <summary>
/// The BERT-CLIP baseline from the console on `cleft synth` data: `cleft pretrain --text bert-tiny` trains it (loss
/// falls), a killed run resumes bit for bit, zeroshot and retrieve read the run, and `cleft compare` sets its zero-shot
/// accuracy beside a CLEFT run's; a BERT with --text-tuning lora is refused in one line.
/// </summary>
public sealed class BertClipCliTests(BertClipCliTests.BertClipRun run, ITestOutputHelper log) : IClassFixture<BertClipCliTests.BertClipRun>
{
    /// <summary>`cleft synth` data and one uninterrupted BERT-CLIP run on it, shared by the tests that read or repeat it.</summary>
    public sealed class BertClipRun : IDisposable
    {
        public const int Steps = 16;
        readonly TempDir _dir = new();

        public BertClipRun()
        {
            Data = _dir.File("data");
            Bert = _dir.File("bert");
            var r = CliHarness.Run("synth", "--out", Data, "--count", "120", "--size", "32");
            if (r.Code != 0) throw new InvalidOperationException($"cleft synth failed: {r.Err}");
            r = CliHarness.Run(Pretrain(Data, Bert, BertTiny, Steps));
            if (r.Code != 0) throw new InvalidOperationException($"cleft pretrain --text bert-tiny failed: {r.Err}");
            Losses = ConsoleWorkflowTests.Losses(Bert);
        }

        public string Data { get; }
        public string Bert { get; }
        public string Test => Path.Combine(Data, "test.csv");
        public IReadOnlyList<(int Step, float Loss)> Losses { get; }
        public void Dispose() => _dir.Dispose();
    }

    // A post-norm BERT trained whole needs its warmup: with lr >= 2e-4 and none, the tiny run collapses to one text embedding (loss ln 8).
    static string[] Pretrain(string data, string run, string text, int steps, params string[] extra) =>
        ["pretrain", "--train", Path.Combine(data, "train.csv"), "--out", run, "--vision", "tiny", "--text", text, "--image-size", "16",
         "--embed-dim", "16", "--max-tokens", "16", "--steps", steps.ToString(), "--batch", "8", "--lr", "5e-4", "--warmup", "8",
         "--log-every", "1", "--eval-every", "4", "--no-augment", "--workers", "1", "--device", "cpu", .. extra];

    (int Code, string Out, string Err) Run(params string[] args)
    {
        var r = CliHarness.Run(args);
        log.WriteLine($"> cleft {string.Join(' ', args)}\n{r.Out}{r.Err}");
        return r;
    }

    [Fact]
    public void LossFallsAndTheRunIsEvaluated()
    {
        Assert.Contains("\"TextKind\": \"bert\"", File.ReadAllText(Path.Combine(run.Bert, "model.json")));
        Assert.Equal(Enumerable.Range(1, BertClipRun.Steps), run.Losses.Select(x => x.Step));
        double first = run.Losses.Take(4).Average(x => x.Loss), last = run.Losses.TakeLast(4).Average(x => x.Loss);
        log.WriteLine($"loss {first:F3} -> {last:F3}");
        // ln 8 is chance for a batch of 8; a BERT that collapsed to one embedding for every caption would sit there.
        Assert.True(last < first && last < Math.Log(8) - 0.1, $"loss {first:F3} -> {last:F3}");
        var (code, _, err) = Run("retrieve", "--run", run.Bert, "--test", run.Test, "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run.Bert, "retrieve-test.json")));
    }

    [Fact]
    public void AKilledRunResumesBitForBit()
    {
        using var dir = new TempDir();
        string killed = dir.File("killed");
        ConsoleWorkflowTests.KillOnceCheckpointedAndPast(Pretrain(run.Data, killed, BertTiny, BertClipRun.Steps), killed);
        var (code, output, err) = Run(Pretrain(run.Data, killed, BertTiny, BertClipRun.Steps, "--resume"));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from", output);
        Assert.Equal(run.Losses, ConsoleWorkflowTests.Losses(killed)); // bit for bit
    }

    [Fact]
    public void CompareSetsZeroShotAccuracyBesideCleft()
    {
        using var dir = new TempDir();
        string cleft = dir.File("cleft");
        var (code, _, err) = Run(Pretrain(run.Data, cleft, "tiny", 2));
        Assert.True(code == 0, err);
        foreach (var folder in new[] { cleft, run.Bert })
        {
            (code, _, err) = Run("zeroshot", "--run", folder, "--test", run.Test, "--label-col", "label", "--device", "cpu");
            Assert.True(code == 0, err);
            Assert.InRange((double)JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "zeroshot-test.json")))!["accuracy"]!, 0, 1);
        }
        (code, var table, err) = Run("compare", cleft, run.Bert, "--name", "zeroshot");
        Assert.True(code == 0, err);
        var rows = table.Split('\n').Where(l => l.Contains("zeroshot-test", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains(rows, r => r.Contains("CLEFT (tiny, LoRA)", StringComparison.Ordinal) && r.Contains('%'));
        Assert.Contains(rows, r => r.Contains("BERT-CLIP (bert-tiny, full)", StringComparison.Ordinal) && r.Contains('%'));
    }

    [Fact]
    public void PromptLearningRefusesABertClipRun()
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("prompt", "--run", run.Bert, "--train", Path.Combine(run.Data, "train.csv"), "--label-col", "label",
            "--steps", "2", "--batch", "8", "--workers", "1", "--device", "cpu", "--out", dir.File("prompt"));
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("the model's text tower is a BERT (the BERT-CLIP baseline)", err);
    }

    const string BertTiny = "bert-tiny";

    [Fact]
    public void LoraOnBertAndFrozenBaseFlagsWithFullTuningAreRefused()
    {
        using var dir = new TempDir();
        string data = dir.File("data");
        Assert.Equal(0, Run("synth", "--out", data, "--count", "20", "--size", "32").Code);
        var (code, _, err) = Run(Pretrain(data, dir.File("a"), BertTiny, 2, "--text-tuning", "lora"));
        Assert.Equal(2, code);
        Assert.Contains("cleft pretrain: --text-tuning lora: a BERT text tower", err);
        (code, _, err) = Run(Pretrain(data, dir.File("b"), "tiny", 2, "--text-tuning", "full", "--ia3"));
        Assert.Equal(2, code);
        Assert.Contains("--text-tuning full trains every text weight", err);
    }
}
