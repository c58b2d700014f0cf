using System.Text.Json.Nodes;
using Cleft.Tests.Cli;
using Cleft.Tests.Data;
using Cleft.Train.Runs;
using Xunit.Abstractions;

namespace Cleft.Tests.Ptunifier;

/// <summary>
/// `cleft ptunifier` end to end on `cleft synth` data: pretrain into a run folder (config, metrics with each objective,
/// ptunifier.json, checkpoints, plots), zeroshot / retrieve / probe from it, `cleft compare` beside a CLEFT run, resume through --config, and the errors
/// for a tower pair whose widths differ and for a BERT preset without a vocabulary.
/// </summary>
public sealed class PtunifierCliTests(ITestOutputHelper log)
{
    static readonly string[] Model = ["--vision", "tiny", "--text", "bert-tiny", "--image-size", "32", "--pool-size", "32", "--visual-prompts", "4",
        "--textual-prompts", "4", "--fusion-layers", "1", "--fusion-heads", "4", "--embed-dim", "16", "--max-tokens", "16", "--device", "cpu"];

    static string[] Pretrain(string data, string run, int steps, params string[] extra) =>
        ["ptunifier", "pretrain", "--train", Path.Combine(data, "train.csv"), "--val", Path.Combine(data, "val.csv"), "--out", run, .. Model,
         "--steps", steps.ToString(), "--batch", "8", "--lr", "1e-3", "--warmup", "1", "--log-every", "1", "--eval-every", "2", "--workers", "1",
         "--no-augment", .. extra];

    /// <summary><paramref name="args"/> with the value after <paramref name="option"/> replaced.</summary>
    static string[] With(string[] args, string option, string value)
    {
        var copy = (string[])args.Clone();
        copy[Array.IndexOf(copy, option) + 1] = value;
        return copy;
    }

    static (int, string, string) Run(ITestOutputHelper log, params string[] args)
    {
        var r = CliHarness.Run(args);
        log.WriteLine($"> cleft {string.Join(' ', args)}\n{r.Out}{r.Err}");
        return r;
    }

    [Fact]
    public void PretrainEvaluateAndResumeOnSyntheticData()
    {
        using var dir = new TempDir();
        string data = dir.File("data"), run = dir.File("run");
        var (code, _, err) = Run(log, "synth", "--out", data, "--count", "50", "--size", "32");
        Assert.True(code == 0, err);

        (code, _, err) = Run(log, Pretrain(data, run, 4));
        Assert.True(code == 0, err);
        foreach (var f in new[] { RunFolder.ConfigFile, RunFolder.MetricsFile, "ptunifier.json", "checkpoints/checkpoints.json", "plots/training.png", "plots/val_loss.png" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"run folder lacks {f}");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFolder.ConfigFile)))!;
        Assert.Equal("ptunifier pretrain", (string)config["command"]!);
        var train = new MetricsLog(Path.Combine(run, RunFolder.MetricsFile)).Read("train").ToList();
        Assert.Equal([1, 2, 3, 4], train.Select(r => (int)r["step"]!));
        foreach (var key in new[] { "itc", "itm", "mlm" }) Assert.True(double.IsFinite((double)train[^1][key]!), $"metrics lack a finite {key}");

        string test = Path.Combine(data, "test.csv");
        (code, _, err) = Run(log, "ptunifier", "zeroshot", "--run", run, "--test", test, "--label-col", "label",
            "--template", "this is a chest x ray of a patient with {}", "--device", "cpu");
        Assert.True(code == 0, err);
        var zs = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "zeroshot-test.json")))!;
        Assert.InRange((double)zs["accuracy"]!, 0, 1);
        Assert.True(File.Exists(Path.Combine(run, "plots", "zeroshot-test-roc.png")));

        (code, _, err) = Run(log, "ptunifier", "retrieve", "--run", run, "--test", test, "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run, "retrieve-test.json")));

        (code, _, err) = Run(log, "ptunifier", "probe", "--run", run, "--train", Path.Combine(data, "train.csv"), "--test", test,
            "--label-col", "label", "--fractions", "100", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run, "probe-test-100pct.json")));

        // A CLEFT run on the same data, and both side by side.
        string cleft = dir.File("cleft");
        (code, _, err) = Run(log, "pretrain", "--train", Path.Combine(data, "train.csv"), "--out", cleft, "--vision", "tiny", "--text", "tiny",
            "--image-size", "32", "--embed-dim", "16", "--max-tokens", "16", "--steps", "2", "--batch", "8", "--warmup", "1", "--no-augment",
            "--workers", "1", "--device", "cpu");
        Assert.True(code == 0, err);
        (code, _, err) = Run(log, "zeroshot", "--run", cleft, "--test", test, "--label-col", "label", "--device", "cpu");
        Assert.True(code == 0, err);
        (code, var table, err) = Run(log, "compare", run, cleft, "--name", "zeroshot");
        Assert.True(code == 0, err);
        Assert.Contains("PTUnifier (bert-tiny)", table);
        Assert.Contains("CLEFT (tiny, LoRA)", table);
        Assert.Equal(2, table.Split('\n').Count(l => l.Contains("zeroshot-test", StringComparison.Ordinal)));

        // --config reads the run's options back (through the nested command); the flags given here win.
        (code, var output, err) = Run(log, "ptunifier", "pretrain", "--config", Path.Combine(run, RunFolder.ConfigFile), "--steps", "6", "--resume");
        Assert.True(code == 0, err);
        Assert.Contains("resumed from", output);
        train = new MetricsLog(Path.Combine(run, RunFolder.MetricsFile)).Read("train").ToList();
        Assert.Equal([1, 2, 3, 4, 5, 6], train.Select(r => (int)r["step"]!));
    }

    [Fact]
    public void TowersOfDifferentWidthsAndPresetsWithoutAVocabularyAreRefused()
    {
        using var dir = new TempDir();
        string data = dir.File("data");
        Assert.Equal(0, CliHarness.Run("synth", "--out", data, "--count", "20", "--size", "32").Code);
        var (code, _, err) = Run(log, With(Pretrain(data, dir.File("a"), 2), "--vision", "dinov2-vits14-reg"));
        Assert.Equal(1, code);
        Assert.Contains("cleft ptunifier pretrain: ", err);
        Assert.Contains("384 wide", err);
        (code, _, err) = Run(log, With(Pretrain(data, dir.File("b"), 2), "--text", "bert-base-uncased"));
        Assert.Equal(1, code);
        Assert.Contains("vocab.txt", err);
    }
}
