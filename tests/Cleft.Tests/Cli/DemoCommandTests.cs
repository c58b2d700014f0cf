using Cleft.Kernels.Cpu;
using Cleft.Tests.Data;
using Cleft.Train.Cli;

namespace Cleft.Tests.Cli;

/// <summary>
/// The README's main command at a reduced size: every stage runs and leaves its files. (The full-size demo's
/// accuracy is a property of its defaults, recorded in docs/CONSOLE.md; here the run is too short to learn much.)
/// </summary>
public sealed class DemoCommandTests
{
    [Fact]
    public void EveryStageRunsAndLeavesItsRunFolders()
    {
        using var dir = new TempDir();
        using var dev = new CpuBackend();
        var log = new StringWriter();
        var r = DemoCommand.Run(dev, dir.Path, count: 120, size: 32, steps: 12, promptSteps: 6, batch: 16, seed: 1, new Dictionary<string, object?>(), log);
        string text = log.ToString();
        foreach (var stage in new[] { "[1/6] synth", "[2/6] pretrain", "[3/6] zeroshot", "[4/6] prompt", "[5/6] zeroshot", "[6/6] probe", "linear probe, 100% of train" })
            Assert.Contains(stage, text);
        Assert.Equal(3, r.Probe.Count);
        foreach (var f in new[] { "results.md", "pretrain/config.json", "pretrain/metrics.jsonl", "pretrain/plots/training.png",
                     "pretrain/zeroshot-test.json", "pretrain/plots/zeroshot-test-roc.png", "prompt/prompt.json", "prompt/zeroshot-test.json",
                     "pretrain/probe-test-100pct.md" })
            Assert.True(File.Exists(Path.Combine(dir.Path, f)), $"missing {f}");
        Assert.InRange(r.ZeroShotStage1, 0, 1);
    }

    [Fact]
    public void AFolderThatIsNotAnEarlierDemoIsNeverDeleted()
    {
        using var dir = new TempDir();
        string precious = dir.Write("thesis.tex", "months of work");
        using var dev = new CpuBackend();
        Assert.Throws<ArgumentException>(() => DemoCommand.Run(dev, dir.Path, 120, 32, 2, 2, 16, 1, new Dictionary<string, object?>(), TextWriter.Null));
        Assert.True(File.Exists(precious));
    }
}
