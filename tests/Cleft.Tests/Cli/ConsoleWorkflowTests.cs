using System.Text.Json.Nodes;
using Cleft.Tests.Data;
using Cleft.Train.Runs;
using Xunit.Abstractions;

namespace Cleft.Tests.Cli;

/// <summary>
/// The console end to end on a CSV of one's own (images + captions + labels, no code written): pretrain then
/// zero-shot; kill -9 during pretraining and resume, bit for bit; a different frozen base refused.
/// </summary>
public sealed class ConsoleWorkflowTests(ITestOutputHelper log)
{
    static readonly string[] Tiny = ["--vision", "tiny", "--text", "tiny", "--image-size", "24", "--embed-dim", "32", "--max-tokens", "12", "--device", "cpu"];

    static string[] Pretrain(string train, string outDir, int steps, params string[] extra) =>
        ["pretrain", "--train", train, "--out", outDir, .. Tiny, "--steps", steps.ToString(), "--batch", "12", "--lr", "2e-3", "--warmup", "5",
         "--log-every", "1", "--caption-col", "text", "--image-col", "file", "--workers", "1", .. extra];

    internal static List<(int Step, float Loss)> Losses(string run) =>
        new MetricsLog(Path.Combine(run, RunFolder.MetricsFile)).Read("train").Select(r => ((int)r["step"]!, (float)r["loss"]!)).ToList();

    [Fact]
    public void OwnCsvPretrainThenZeroShotWithATemplate()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 120, seed: 1);
        string test = CliHarness.OwnCsv(Path.Combine(dir.Path, "test"), 45, seed: 2);
        string run = dir.File("run");
        var (code, output, err) = CliHarness.Run(Pretrain(train, run, 80, "--val", test, "--eval-every", "40"));
        log.WriteLine(output);
        Assert.True(code == 0, err);
        foreach (var f in new[] { RunFolder.ConfigFile, RunFolder.MetricsFile, "model.json", "checkpoints/checkpoints.json", "plots/training.png", "plots/val_loss.png" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"run folder lacks {f}");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFolder.ConfigFile)))!;
        Assert.Equal(80, (int)config["options"]!["steps"]!);
        Assert.Equal("cpu", ((string)config["device"]!).Split(' ')[0]);

        (code, output, err) = CliHarness.Run("zeroshot", "--run", run, "--test", test, "--image-col", "file", "--label-col", "kind",
            "--classes", "ring,bar,square", "--template", "a picture of a {}", "--device", "cpu");
        log.WriteLine(output);
        Assert.True(code == 0, err);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "zeroshot-own.json")))!;
        double acc = (double)results["accuracy"]!;
        Assert.True(acc > 0.6, $"zero-shot accuracy {acc} on 3 shapes (chance 0.33)");
        Assert.True(File.Exists(Path.Combine(run, "plots", "zeroshot-own-roc.png")));
        Assert.True(File.Exists(Path.Combine(run, "plots", "zeroshot-own-confusion.png")));
        Assert.Contains("macro", File.ReadAllText(Path.Combine(run, "zeroshot-own.md")), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void KilledPretrainingResumesBitForBitWithDropoutOn()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 60, seed: 3);
        string[] dropout = ["--lora-dropout", "0.2", "--text-dropout", "--eval-every", "4"];
        const int steps = 16;

        string straight = dir.File("straight");
        var (code, _, err) = CliHarness.Run(Pretrain(train, straight, steps, dropout));
        Assert.True(code == 0, err);
        var expected = Losses(straight);
        Assert.Equal(Enumerable.Range(1, steps), expected.Select(x => x.Step));

        string killed = dir.File("killed");
        KillOnceCheckpointedAndPast(Pretrain(train, killed, steps, dropout), killed);
        int loggedBeforeKill = Losses(killed).Count;
        (code, var output, err) = CliHarness.Run(Pretrain(train, killed, steps, [.. dropout, "--resume"]));
        log.WriteLine(output);
        Assert.True(code == 0, err);
        Assert.Contains("resumed from", output);
        var resumed = Losses(killed);
        log.WriteLine($"killed after {loggedBeforeKill} logged steps");
        Assert.Equal(expected.Select(x => x.Step), resumed.Select(x => x.Step));
        Assert.Equal(expected.Select(x => x.Loss), resumed.Select(x => x.Loss)); // bit for bit
    }

    /// <summary>Runs the console as a child and SIGKILLs it once a checkpoint exists and it has logged steps past it.</summary>
    internal static void KillOnceCheckpointedAndPast(string[] args, string run)
    {
        using var child = CliHarness.Start(args);
        // Drain both pipes as the child writes (a full pipe would stall it); stderr is kept for the failure message.
        var stderr = new System.Text.StringBuilder();
        child.OutputDataReceived += (_, _) => { };
        child.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        string index = Path.Combine(run, RunFolder.CheckpointFolder, "checkpoints.json");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!child.HasExited && DateTime.UtcNow < deadline && !(File.Exists(index) && Losses(run).Count >= 6)) Thread.Sleep(20);
        if (child.HasExited) Assert.Fail($"the child finished (exit {child.ExitCode}) before it could be killed: {stderr}");
        child.Kill(entireProcessTree: true);
        child.WaitForExit();
    }

    [Fact]
    public void KilledPromptLearningResumesBitForBit()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 60, seed: 6);
        string stage1 = dir.File("stage1");
        var (code, _, err) = CliHarness.Run(Pretrain(train, stage1, 3));
        Assert.True(code == 0, err);
        string[] Prompt(string outDir, params string[] extra) =>
            ["prompt", "--run", stage1, "--train", train, "--image-col", "file", "--label-col", "kind", "--template", "a picture of a {}",
             "--context", "4", "--steps", "14", "--batch", "12", "--lr", "0.05", "--warmup", "2", "--log-every", "1", "--eval-every", "4",
             "--workers", "1", "--device", "cpu", "--out", outDir, .. extra];
        (code, _, err) = CliHarness.Run(Prompt(dir.File("straight")));
        Assert.True(code == 0, err);
        var expected = Losses(dir.File("straight"));
        KillOnceCheckpointedAndPast(Prompt(dir.File("killed")), dir.File("killed"));
        (code, var output, err) = CliHarness.Run(Prompt(dir.File("killed"), "--resume"));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from", output);
        Assert.Equal(expected, Losses(dir.File("killed")));
    }

    [Fact]
    public void ADifferentFrozenBaseIsRefusedNamingBothFingerprints()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 24, seed: 4);
        string run = dir.File("run");
        var (code, _, err) = CliHarness.Run(Pretrain(train, run, 2, "--seed", "1"));
        Assert.True(code == 0, err);

        // Resuming with another seed rebuilds the random frozen text tower differently.
        (code, _, err) = CliHarness.Run(Pretrain(train, run, 4, "--seed", "2", "--resume"));
        Assert.Equal(1, code);
        Assert.Matches("fingerprint [0-9a-f]{16}.*fingerprint [0-9a-f]{16}", err);

        // Evaluating a checkpoint whose spec now points at another base is refused too.
        string checkpoint = RunFolder.ModelDirectory(run);
        string spec = Path.Combine(checkpoint, "model.json");
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("\"Seed\": 1", "\"Seed\": 3"));
        (code, _, err) = CliHarness.Run("zeroshot", "--run", checkpoint, "--test", train, "--image-col", "file", "--label-col", "kind", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("fingerprint", err);
    }

    [Fact]
    public void HuggingFaceFoldersAreLoadedAndRecorded()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 24, seed: 5);
        string vit = Path.Combine(AppContext.BaseDirectory, "Fixtures", "vit_tiny"), gpt2 = Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2_tiny");
        string run = dir.File("run");
        string[] args = ["pretrain", "--train", train, "--out", run, "--vision", vit, "--text", "tiny", "--image-size", "16", "--embed-dim", "16",
            "--max-tokens", "12", "--steps", "2", "--batch", "8", "--caption-col", "text", "--image-col", "file", "--device", "cpu"];
        var (code, _, err) = CliHarness.Run(args);
        Assert.True(code == 0, err);
        var spec = Cleft.Models.Recipe.CleftModelSpec.Read(Path.Combine(run, "model.json")).Spec;
        Assert.Equal(Path.GetFullPath(vit), spec.Vision);
        using (var dev = new Cleft.Kernels.Cpu.CpuBackend())
        using (var loaded = Cleft.Models.Recipe.CleftModel.Load(dev, run))
            Assert.Equal(32, loaded.Config.Vision.HiddenSize); // the folder's config, not a preset's

        // A GPT-2 folder with its own small vocabulary and no vocab.json cannot use GPT-2's BPE: a clear error, no run.
        string[] withText = [.. args.Select(a => a == "tiny" ? gpt2 : a).Select(a => a == run ? dir.File("run2") : a)];
        (code, _, err) = CliHarness.Run(withText);
        Assert.Equal(1, code);
        Assert.Contains("--tokenizer", err);
    }

    [Fact]
    public void Ia3IsSelectableAndSavedAsAPeftAdapter()
    {
        using var dir = new TempDir();
        string train = CliHarness.OwnCsv(Path.Combine(dir.Path, "train"), 24, seed: 7);
        string run = dir.File("run");
        var (code, _, err) = CliHarness.Run(Pretrain(train, run, 2, "--ia3"));
        Assert.True(code == 0, err);
        var spec = Cleft.Models.Recipe.CleftModelSpec.Read(Path.Combine(run, "model.json")).Spec;
        Assert.NotNull(spec.Ia3);
        Assert.Null(spec.Lora);
        string checkpoint = RunFolder.ModelDirectory(run);
        var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "adapter", "adapter_config.json")))!;
        Assert.Equal("IA3", (string)adapter["peft_type"]!);
        using (var dev = new Cleft.Kernels.Cpu.CpuBackend())
        using (var loaded = Cleft.Models.Recipe.CleftModel.Load(dev, run))
            Assert.Contains(loaded.NamedParameters(), x => x.Name.EndsWith(".ia3_l", StringComparison.Ordinal));
        (code, _, err) = CliHarness.Run(Pretrain(train, run, 4, "--ia3", "--resume"));
        Assert.True(code == 0, err);
        Assert.Equal([1, 2, 3, 4], Losses(run).Select(x => x.Step));
    }
}
