using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Cleft.Tests.Data;
using Cleft.Train.Runs;
using Xunit.Abstractions;

namespace Cleft.Tests.Cli;

/// <summary>The NaN/Inf guard through the console: skips logged in metrics.jsonl, ten in a row stop the run with exit code 1.</summary>
public sealed class GuardWorkflowTests(ITestOutputHelper log)
{
    [Fact]
    public void AnAbsurdLearningRateStopsThePretrainingAfterTenSkippedStepsKeepingTheLastGoodCheckpoint()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 24, seed: 6);
        string run = dir.File("run");
        // Step 1 is finite and throws the weights to ~1e30; every later loss is NaN or infinite.
        var (code, output, err) = CliHarness.Run("pretrain", "--train", train, "--out", run, "--vision", "tiny", "--text", "tiny", "--image-size", "24",
            "--embed-dim", "32", "--max-tokens", "12", "--device", "cpu", "--steps", "30", "--batch", "4", "--warmup", "0", "--lr", "1e30",
            "--eval-every", "1", "--log-every", "1", "--caption-col", "text", "--image-col", "file", "--workers", "1");
        log.WriteLine(output);
        log.WriteLine(err);
        Assert.Equal(1, code);
        string checkpoint = Path.Combine(run, RunFolder.CheckpointFolder, "step-00000001");
        Assert.Contains("10 steps in a row", err);
        Assert.Contains("at step 2 (loss", err);
        Assert.Contains($"last good checkpoint: {checkpoint}", err);

        var metrics = new MetricsLog(Path.Combine(run, RunFolder.MetricsFile));
        var skipped = metrics.Read("skipped").ToList();
        Assert.Equal(Enumerable.Range(1, 10), skipped.Select(r => (int)r["skipped_steps"]!));
        Assert.Equal(Enumerable.Range(1, 10), skipped.Select(r => (int)r["in_a_row"]!));
        Assert.All(skipped, r => Assert.Equal(2, (int)r["step"]!)); // the attempted step: the schedule never moved on
        Assert.All(skipped, r => Assert.StartsWith("loss ", (string)r["reason"]!));
        var trained = Assert.Single(metrics.Read("train"));
        Assert.Equal((1, 0), ((int)trained["step"]!, (int)trained["skipped_steps"]!));

        Assert.Equal(checkpoint, RunFolder.ModelDirectory(run));
        using var cpu = new CpuBackend();
        using var model = CleftModel.Load(cpu, checkpoint);
    }
}
