using System.Text.Json;
using Cleft.Autograd.IO;
using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Cleft.Tests.Data;
using Cleft.Train.Runs;
using Cleft.Train.Training;
using Xunit.Abstractions;

namespace Cleft.Tests.Cli;

/// <summary>
/// Crash safety of checkpoints: one pretraining run that saves after every step, killed with SIGKILL 50 times at
/// random moments (many of them inside a checkpoint write) and resumed each time; after every kill the store's
/// index must name a checkpoint whose every file verifies (safetensors data hashes) and whose model loads.
/// </summary>
public sealed class CheckpointKillTests(ITestOutputHelper log)
{
    const int Kills = 50;

    [Fact]
    public void FiftyKillsDuringCheckpointWritesAlwaysLeaveALoadableCheckpoint()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 24, seed: 5);
        string run = dir.File("run"), store = Path.Combine(run, RunFolder.CheckpointFolder), index = Path.Combine(store, CheckpointStore.IndexFile);
        string[] args = ["pretrain", "--train", train, "--out", run, "--vision", "tiny", "--text", "tiny", "--image-size", "24", "--embed-dim", "32",
            "--max-tokens", "12", "--device", "cpu", "--steps", "100000", "--batch", "4", "--warmup", "0", "--log-every", "1", "--eval-every", "1",
            "--caption-col", "text", "--image-col", "file", "--workers", "1", "--lora-dropout", "0.1", "--resume"];
        var random = new Random(1234);
        using var cpu = new CpuBackend();
        int lastStep = 0, debris = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int kill = 0; kill < Kills; kill++)
        {
            using (var child = CliHarness.Start(args))
            {
                // Drained as it comes: a child blocked on a full pipe would stop training (and checkpointing).
                var output = new System.Text.StringBuilder();
                var errors = new System.Text.StringBuilder();
                child.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
                child.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
                child.BeginOutputReadLine();
                child.BeginErrorReadLine();
                // Wait for this child's first checkpoint (so each child trains past a resume), then kill it at a random
                // moment of the following steps: the step's compute or, often, the middle of the next checkpoint write.
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (!child.HasExited && DateTime.UtcNow < deadline && IndexLastStep(index) <= lastStep) Thread.Sleep(2);
                bool exited = child.HasExited;
                if (!exited)
                {
                    // Every other kill aims at a write: it waits for the next checkpoint's temporary folder to appear
                    // (spinning, as a write on a RAM disk takes milliseconds) and strikes a few microseconds to
                    // milliseconds into it; the others strike anywhere in the next 150 ms.
                    if (kill % 2 == 0)
                    {
                        while (!child.HasExited && DateTime.UtcNow < deadline && !Directory.EnumerateDirectories(store, DurableFile.TempPrefix + "*").Any())
                            Thread.Yield();
                        Thread.SpinWait(random.Next(0, 200_000));
                    }
                    else Thread.Sleep(random.Next(0, 150));
                    child.Kill(entireProcessTree: true);
                }
                child.WaitForExit(); // and for the output readers to reach the end
                Assert.False(exited, $"kill {kill}: the child exited early: {errors}");
                if (lastStep > 0) Assert.Contains($"resumed from {Path.Combine(store, $"step-{lastStep:D8}")} at step {lastStep}", output.ToString());
            }
            var indexed = JsonSerializer.Deserialize<List<CheckpointInfo>>(File.ReadAllText(index))!.Select(e => e.Name).ToHashSet();
            if (Directory.EnumerateFileSystemEntries(store, DurableFile.TempPrefix + "*").Any()
                || Directory.EnumerateDirectories(store, "step-*").Any(d => !indexed.Contains(Path.GetFileName(d))))
                debris++; // the kill hit a write, a rename or the deletion of the previous checkpoint

            // Opening the store sweeps the killed write's temporaries; the index names a complete checkpoint.
            var opened = new CheckpointStore(store);
            var last = opened.Last ?? throw new Xunit.Sdk.XunitException($"kill {kill}: no checkpoint in the index");
            Assert.True(last.Step > lastStep, $"kill {kill}: the run did not get past step {lastStep}");
            lastStep = last.Step;
            string checkpoint = opened.PathOf(last);
            Assert.Equal(checkpoint, RunFolder.ModelDirectory(run));
            Assert.Equal(last.Step, CheckpointStore.ReadInfo(checkpoint).Step);
            var files = Directory.GetFiles(checkpoint, "*.safetensors", SearchOption.AllDirectories);
            Assert.Equal(3, files.Length); // model, optimizer, adapter/adapter_model
            foreach (var f in files)
                using (var st = SafetensorsFile.Open(f)) // verifies the data hash
                    Assert.True(st.Metadata.ContainsKey(SafetensorsFile.HashKey), $"{f} carries no data hash");
            Assert.NotNull(JsonSerializer.Deserialize<TrainerState.Saved>(File.ReadAllText(Path.Combine(checkpoint, TrainerState.StateFile))));
            using var model = CleftModel.Load(cpu, checkpoint);
        }
        log.WriteLine($"{Kills} kills in {clock.Elapsed.TotalSeconds:F0} s, the run reached step {lastStep}; {debris} kills left a " +
            "half-written temporary or an unindexed folder behind (swept by the store)");
        Assert.True(debris > 0, "no kill landed inside a checkpoint write; the test exercised nothing");
    }

    /// <summary>The index's newest step, read without opening a store (which would sweep the running child's temporaries).</summary>
    static int IndexLastStep(string index)
    {
        try { return JsonSerializer.Deserialize<List<CheckpointInfo>>(File.ReadAllText(index))?.Max(e => e.Step) ?? 0; }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException) { return 0; }
    }
}
