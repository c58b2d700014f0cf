using System.Text.Json.Nodes;
using Cleft.Tests.Data;
using Xunit.Abstractions;

namespace Cleft.Tests.Cli;

/// <summary>
/// The BERT-CLIP baseline from the console on `cleft synth` data: `cleft pretrain --text bert-tiny` trains it (loss
/// falls), a killed run resumes bit for bit, zeroshot and retrieve read the run, and `cleft compare` sets its zero-shot
/// accuracy beside a CLEFT run's; a BERT with --text-tuning lora is refused in one line.
/// </summary>
public sealed class BertClipCliTests(ITestOutputHelper log)
{
    static string[] Pretrain(string data, string run, string text, int steps, params string[] extra) =>
        ["pretrain", "--train", Path.Combine(data, "train.csv"), "--out", run, "--vision", "tiny", "--text", text, "--image-size", "32",
         "--embed-dim", "16", "--max-tokens", "16", "--steps", steps.ToString(), "--batch", "8", "--lr", "1e-3", "--warmup", "1",
         "--log-every", "1", "--eval-every", "4", "--no-augment", "--workers", "1", "--device", "cpu", .. extra];

    (int Code, string Out, string Err) Run(params string[] args)
    {
        var r = CliHarness.Run(args);
        log.WriteLine($"> cleft {string.Join(' ', args)}\n{r.Out}{r.Err}");
        return r;
    }

    [Fact]
    public void BertClipTrainsResumesAndIsComparedWithCleft()
    {
        using var dir = new TempDir();
        string data = dir.File("data"), bert = dir.File("bert"), killed = dir.File("killed"), cleft = dir.File("cleft");
        Assert.Equal(0, Run("synth", "--out", data, "--count", "60", "--size", "32").Code);
        const int steps = 16;

        var (code, output, err) = Run(Pretrain(data, bert, BertTiny, steps));
        Assert.True(code == 0, err);
        Assert.Contains("\"TextKind\": \"bert\"", File.ReadAllText(Path.Combine(bert, "model.json")));
        var losses = ConsoleWorkflowTests.Losses(bert);
        Assert.Equal(Enumerable.Range(1, steps), losses.Select(x => x.Step));
        double first = losses.Take(4).Average(x => x.Loss), last = losses.TakeLast(4).Average(x => x.Loss);
        Assert.True(last < first, $"loss {first:F3} -> {last:F3}");

        ConsoleWorkflowTests.KillOnceCheckpointedAndPast(Pretrain(data, killed, BertTiny, steps), killed);
        (code, output, err) = Run(Pretrain(data, killed, BertTiny, steps, "--resume"));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from", output);
        Assert.Equal(losses, ConsoleWorkflowTests.Losses(killed)); // bit for bit

        string test = Path.Combine(data, "test.csv");
        (code, _, err) = Run("zeroshot", "--run", bert, "--test", test, "--label-col", "label", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.InRange((double)JsonNode.Parse(File.ReadAllText(Path.Combine(bert, "zeroshot-test.json")))!["accuracy"]!, 0, 1);
        (code, _, err) = Run("retrieve", "--run", bert, "--test", test, "--device", "cpu");
        Assert.True(code == 0, err);

        (code, _, err) = Run(Pretrain(data, cleft, "tiny", 2));
        Assert.True(code == 0, err);
        (code, _, err) = Run("zeroshot", "--run", cleft, "--test", test, "--label-col", "label", "--device", "cpu");
        Assert.True(code == 0, err);
        (code, var table, err) = Run("compare", cleft, bert, "--name", "zeroshot");
        Assert.True(code == 0, err);
        var rows = table.Split('\n').Where(l => l.Contains("zeroshot-test", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains(rows, r => r.Contains("CLEFT (tiny, LoRA)", StringComparison.Ordinal) && r.Contains('%'));
        Assert.Contains(rows, r => r.Contains("BERT-CLIP (bert-tiny, full)", StringComparison.Ordinal) && r.Contains('%'));
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
