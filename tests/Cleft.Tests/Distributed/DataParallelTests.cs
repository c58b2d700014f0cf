using System.Diagnostics;
using System.Text.RegularExpressions;
using Cleft.Autograd.IO;
using Cleft.Tests.Autograd;
using Cleft.Tests.Cli;
using Cleft.Tests.Data;
using Cleft.Train.Runs;
using Cleft.Train.Training;
using Xunit.Abstractions;

namespace Cleft.Tests.Distributed;

/// <summary>
/// Stage-1 pretraining under `mpirun -np 2` (Open MPI, the console as each rank): the same per-step losses and
/// final weights as one process on the same global batch; and a rank killed mid-run makes the other exit within
/// 30 s naming it, after which the run resumes from its last checkpoint (at another rank count). Stage 2 on two
/// ranks gives one process's losses and validation numbers too.
/// </summary>
public sealed partial class DataParallelTests(ITestOutputHelper log)
{
    // LoRA dropout off: each rank draws masks for its own rows, so only dropout-free runs match one process exactly.
    // lr 1e-4: Adam turns gradient components that are mostly rounding noise into steps of about lr, so the weights of
    // any two summation orders (2 ranks or 1, or one process on another thread count) drift apart in proportion to lr.
    static string[] Args(string train, string run, int steps, int evalEvery) =>
        ["pretrain", "--train", train, "--out", run, "--vision", "tiny", "--text", "tiny", "--image-size", "24", "--embed-dim", "32",
         "--max-tokens", "12", "--device", "cpu", "--steps", steps.ToString(), "--batch", "8", "--warmup", "2", "--lr", "1e-4",
         "--log-every", "1", "--eval-every", evalEvery.ToString(), "--caption-col", "text", "--image-col", "file", "--workers", "1",
         "--lora-dropout", "0", "--no-augment"];

    [SkippableFact]
    public void TwoRanksMatchOneProcessOnTheGlobalBatch()
    {
        string mpirun = MpiHarness.Require();
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "data"), 32, seed: 3);
        string one = dir.File("one"), two = dir.File("two");
        var clock = Stopwatch.StartNew();
        using (var job = new MpiHarness.Job(mpirun, 2, Args(train, two, 20, 20)))
        {
            Assert.True(job.Wait(TimeSpan.FromSeconds(120)), "mpirun did not finish within 120 s:\n" + job.Output);
            Assert.True(job.Process.ExitCode == 0, $"mpirun exit {job.Process.ExitCode}:\n{job.Output}");
            Assert.Contains("x 2 ranks (mpi, 4 pairs each per batch)", job.Output);
        }
        var (code, _, err) = CliHarness.Run(Args(train, one, 20, 20));
        Assert.True(code == 0, err);
        log.WriteLine($"both runs: {clock.Elapsed.TotalSeconds:F1} s");

        double[] expected = Losses(one), actual = Losses(two);
        Assert.Equal(20, expected.Length);
        Assert.Equal(20, actual.Length);
        TestData.AssertClose(expected, [.. actual.Select(x => (float)x)], 0, 1e-5, "per-step loss, 2 ranks vs 1 process");

        string last = Path.Combine(RunFolder.CheckpointFolder, "step-00000020");
        var files = Directory.GetFiles(Path.Combine(one, last), "*.safetensors", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != TrainerState.OptimizerFile).ToList();
        Assert.Equal(2, files.Count); // model.safetensors and the LoRA adapter
        foreach (var file in files)
        {
            using var a = SafetensorsFile.Open(file);
            using var b = SafetensorsFile.Open(Path.Combine(two, Path.GetRelativePath(one, file)));
            Assert.Equal(a.Entries.Keys.Order(), b.Entries.Keys.Order());
            // Attention key biases have a true gradient of exactly zero (softmax ignores a shift that is the same for
            // every key of a query), so theirs is pure rounding noise, which Adam scales up to lr-sized steps: they
            // differ between any two summation orders and are left out.
            foreach (var name in a.Entries.Keys.Where(n => !n.EndsWith("attention.key.bias", StringComparison.Ordinal)))
            {
                // Per tensor, ||w2 - w1|| / ||w1||: element-wise ratios mean nothing for elements that are still near zero.
                float[] w1 = a.ReadFloats(name), w2 = b.ReadFloats(name);
                double diff = Math.Sqrt(w1.Zip(w2, (x, y) => ((double)x - y) * ((double)x - y)).Sum()), norm = Math.Sqrt(w1.Sum(x => (double)x * x));
                Assert.True(diff <= 1e-5 * norm, $"{Path.GetFileName(file)}:{name}: relative difference {diff / norm:0.###e+0} after 20 steps (2 ranks vs 1 process)");
            }
        }
    }

    [SkippableFact]
    public void StageTwoOnTwoRanksMatchesOneProcess()
    {
        string mpirun = MpiHarness.Require();
        using var dir = new TempDir();
        string data = Path.Combine(dir.Path, "data"), train = CliHarness.OwnCsv(data, 24, seed: 5), stage1 = dir.File("stage1");
        var (code, _, err) = CliHarness.Run(Args(train, stage1, 1, 1));
        Assert.True(code == 0, err);
        string[] Prompt(string run) => ["prompt", "--run", stage1, "--train", train, "--val", train, "--out", run, "--image-col", "file",
            "--label-col", "kind", "--device", "cpu", "--steps", "6", "--batch", "8", "--warmup", "1", "--log-every", "1", "--eval-every", "6",
            "--workers", "1", "--no-augment"];
        using (var job = new MpiHarness.Job(mpirun, 2, Prompt(dir.File("two"))))
        {
            Assert.True(job.Wait(TimeSpan.FromSeconds(120)), "mpirun did not finish within 120 s:\n" + job.Output);
            Assert.True(job.Process.ExitCode == 0, $"mpirun exit {job.Process.ExitCode}:\n{job.Output}");
        }
        (code, _, err) = CliHarness.Run(Prompt(dir.File("one")));
        Assert.True(code == 0, err);
        TestData.AssertClose(Losses(dir.File("one")), [.. Losses(dir.File("two")).Select(x => (float)x)], 0, 1e-5, "stage-2 loss, 2 ranks vs 1 process");
        var (v1, v2) = (Val(dir.File("one")), Val(dir.File("two")));
        Assert.Equal(v1.Accuracy, v2.Accuracy);
        Assert.True(Math.Abs(v1.Loss - v2.Loss) <= 1e-5 * v1.Loss, $"validation loss {v2.Loss} on 2 ranks, {v1.Loss} in one process");
    }

    static (double Loss, double Accuracy) Val(string run) =>
        new MetricsLog(Path.Combine(run, RunFolder.MetricsFile)).Read("val").Select(r => ((double)r["val_loss"]!, (double)r["val_accuracy"]!)).Single();

    [SkippableFact]
    public void KilledRankStopsTheOtherNamingItAndTheRunResumes()
    {
        string mpirun = MpiHarness.Require();
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "data"), 32, seed: 4);
        string run = dir.File("run"), index = Path.Combine(run, RunFolder.CheckpointFolder, CheckpointStore.IndexFile);
        int killedAt;
        using (var job = new MpiHarness.Job(mpirun, 2, [.. Args(train, run, 10_000, 2), "--dist-timeout", "20"]))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!job.Process.HasExited && DateTime.UtcNow < deadline && !File.Exists(index)) Thread.Sleep(20);
            Assert.False(job.Process.HasExited, "the job ended before its first checkpoint:\n" + job.Output);
            var rank1 = RankLine().Match(job.Output);
            Assert.True(rank1.Success, "rank 1 did not report its pid:\n" + job.Output);
            using var victim = Process.GetProcessById(int.Parse(rank1.Groups[1].Value));
            victim.Kill();
            var clock = Stopwatch.StartNew();
            Assert.True(job.Wait(TimeSpan.FromSeconds(30)), "the job did not end within 30 s of the kill:\n" + job.Output);
            killedAt = (int)clock.Elapsed.TotalSeconds;
            log.WriteLine(job.Output);
            Assert.NotEqual(0, job.Process.ExitCode);
            // Rank 0's own message (the SIGTERM handler or the watchdog), not only the launcher's.
            Assert.Matches(@"MPI rank 0 of 2: .*lost rank 1 \(pid " + rank1.Groups[1].Value, job.Output);
        }
        log.WriteLine($"job ended {killedAt} s after the kill");

        int saved = new CheckpointStore(Path.Combine(run, RunFolder.CheckpointFolder)).Last!.Step;
        var (code, output, err) = CliHarness.Run([.. Args(train, run, saved + 2, 2), "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains($"resumed from {Path.Combine(run, RunFolder.CheckpointFolder, $"step-{saved:D8}")} at step {saved}", output);
        Assert.Contains($"done, {saved + 2} steps", output);
    }

    [SkippableFact]
    public void HungRankIsNamedWhenTheCollectiveTimesOut()
    {
        string mpirun = MpiHarness.Require();
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "data"), 32, seed: 6);
        string run = dir.File("run"), index = Path.Combine(run, RunFolder.CheckpointFolder, CheckpointStore.IndexFile);
        using var job = new MpiHarness.Job(mpirun, 2, [.. Args(train, run, 10_000, 2), "--dist-timeout", "6"]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!job.Process.HasExited && DateTime.UtcNow < deadline && !File.Exists(index)) Thread.Sleep(20);
        Assert.False(job.Process.HasExited, "the job ended before its first checkpoint:\n" + job.Output);
        string pid = RankLine().Match(job.Output).Groups[1].Value;
        // SIGSTOP: rank 1 stays alive but never reaches the next collective, so the launcher notices nothing and
        // only rank 0's watchdog can end the job.
        Signal("STOP", pid);
        try
        {
            Assert.True(job.Wait(TimeSpan.FromSeconds(40)), "the job did not end within 40 s of the hang:\n" + job.Output);
            log.WriteLine(job.Output);
            // The collective it stopped in: the gradient all-reduce or a feature gather, whichever rank 0 reached first.
            Assert.Matches(@"MPI rank 0 of 2: [^;]+: no progress for 6 s; lost rank 1 \(pid " + pid, job.Output);
        }
        finally { Signal("KILL", pid); }
    }

    static void Signal(string signal, string pid) => Kill(int.Parse(pid), signal == "STOP" ? 19 : 9); // Linux signal numbers

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    static extern int Kill(int pid, int signal);

    [GeneratedRegex(@"mpi rank 1 of 2, pid (\d+)")]
    private static partial Regex RankLine();

    static double[] Losses(string run) => [.. new MetricsLog(Path.Combine(run, RunFolder.MetricsFile)).Read("train").Select(r => (double)r["loss"]!)];
}
