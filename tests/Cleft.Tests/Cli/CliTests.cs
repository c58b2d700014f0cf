using Cleft.Tests.Data;

namespace Cleft.Tests.Cli;

/// <summary>The console's contract: --help everywhere with defaults, one-line errors with exit code 2, --config.</summary>
public sealed class CliTests
{
    public static readonly TheoryData<string> Commands =
        ["demo", "pretrain", "prompt", "zeroshot", "probe", "retrieve", "classify", "synth", "params", "devices", "mlp", "ptx"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandHasHelp(string command)
    {
        var (code, output, _) = CliHarness.Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.Contains(command, output);
    }

    [Fact]
    public void HelpShowsThePapersDefaults()
    {
        var (_, output, _) = CliHarness.Run("pretrain", "--help");
        foreach (var expected in new[] { "--lr", "4E-05", "--weight-decay", "0.1", "--warmup", "4000", "--steps", "40000", "--lora-r", "dinov2-vitb14-reg", "biomedlm" })
            Assert.Contains(expected, output);
    }

    [Theory]
    [InlineData("pretrain", "--train", "a.csv", "--out", "o", "--bogus", "1")]
    [InlineData("pretrain", "--train", "a.csv", "--out", "o", "--batch", "0")]
    [InlineData("pretrain", "--train", "a.csv", "--out", "o", "--lr", "fast")]
    [InlineData("pretrain", "--out", "o")]
    [InlineData("zeroshot", "--run", "r", "--test", "t.csv", "--template", "no slot")]
    [InlineData("frobnicate")]
    [InlineData("synth", "--out", "o", "--count", "0")]
    public void BadCommandLinesGiveOneLineAndExitCode2(params string[] args)
    {
        var (code, _, err) = CliHarness.Run(args);
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("cleft", err);
    }

    [Fact]
    public void NoCommandPrintsHelpAndExits2()
    {
        var (code, output, _) = CliHarness.Run();
        Assert.Equal(2, code);
        Assert.Contains("pretrain", output);
    }

    [Fact]
    public void ConfigFileSuppliesOptionsAndFlagsWin()
    {
        using var dir = new TempDir();
        string config = dir.Write("c.json", """{ "out": "PLACEHOLDER", "count": 7, "size": 20, "seed": 5 }""".Replace("PLACEHOLDER", dir.File("a").Replace("\\", "/")));
        var (code, output, err) = CliHarness.Run("synth", "--config", config, "--count", "5");
        Assert.True(code == 0, err);
        Assert.Contains("5 synthetic 20x20 chest images, seed 5", output);
        Assert.Equal(6, File.ReadAllLines(Path.Combine(dir.File("a"), "manifest.csv")).Length);
    }

    [Fact]
    public void ConfigFileWithAnUnknownOptionIsRefused()
    {
        using var dir = new TempDir();
        string config = dir.Write("c.json", """{ "out": "x", "colour": "blue" }""");
        var (code, _, err) = CliHarness.Run("synth", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains("'colour' is not an option of 'cleft synth'", err);
    }

    [Fact]
    public void AManifestWithSeveralProblemsReportsThemAllBeforeTraining()
    {
        using var dir = new TempDir();
        string csv = dir.Write("bad.csv", "Path,caption\nmissing1.png,a\n,b\nmissing2.png,\n");
        var (code, _, err) = CliHarness.Run("pretrain", "--train", csv, "--out", dir.File("run"), "--vision", "tiny", "--text", "tiny", "--batch", "2");
        Assert.Equal(1, code);
        Assert.Contains("4 problems", err);
        Assert.Contains("missing1.png", err);
        Assert.Contains("empty image path", err);
        Assert.Contains("empty caption", err);
        Assert.False(Directory.Exists(dir.File("run")), "nothing may be written before the data is known to be good");
    }
}
