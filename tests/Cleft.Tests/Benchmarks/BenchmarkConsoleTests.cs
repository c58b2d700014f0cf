using System.CommandLine;
using Cleft.Benchmarks;

namespace Cleft.Tests.Benchmarks;

/// <summary>
/// The benchmark console's command line (benchmarks/Cleft.Benchmarks): --help on every command, one-line errors with
/// exit code 2, values reaching the measurement code. Command lines are parsed, never run: a run measures for minutes
/// and would disturb other measurements on the machine.
/// </summary>
public sealed class BenchmarkConsoleTests
{
    public static readonly TheoryData<string> Commands = ["side-by-side", "profile-step", "gemm-shapes", "bdn"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void EveryCommandHasHelp(string command)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.Contains(command, output);
    }

    [Fact]
    public void NoCommandPrintsTheOverviewAndExits2()
    {
        var (code, output, _) = Run();
        Assert.Equal(2, code);
        foreach (var command in Commands) Assert.Contains(command, output);
    }

    /// <summary>Command lines as docs/PERFORMANCE.md, docs/ATTENTION.md and README.md give them.</summary>
    [Theory]
    [InlineData("side-by-side --sizes 256,512,1024,2048 --rounds 3")]
    [InlineData("side-by-side --cases attention,attention-full --sizes 128 --rounds 3")]
    [InlineData("side-by-side --cases contrastive --sizes 256 --rounds 3")]
    [InlineData("side-by-side --cases gemm-nn,gemm-nt,gemm-tn --sizes 192,384 --openblas-coretype SkylakeX")]
    [InlineData("side-by-side --cases gemm,gemm-nn,gemm-nt,gemm-tn --sizes 192,384,1024 --rounds 3")]
    [InlineData("side-by-side --cases cleft-step --openblas-coretype SkylakeX --rounds 2 --warmup 1 --steps 3")]
    [InlineData("profile-step --sizes 192 --warmup 1 --steps 3")]
    [InlineData("gemm-shapes --sizes 192,384 --rounds 7 --cpu")]
    [InlineData("bdn --filter *Gemm*")]
    public void DocumentedCommandLinesStillParse(string commandLine) => Parsed(commandLine.Split(' '));

    [Fact]
    public void ProfileStepReadsItsOptions()
    {
        var options = Bind<ProfileStepCommand, StepProfileOptions>(c => c.Bind, "profile-step", "--sizes", "192", "--steps", "3");
        Assert.Equal([192], options.Sizes);
        Assert.Equal((2, 3), (options.Warmup, options.Steps));
    }

    [Fact]
    public void StepSizesDefaultToEveryCleftStepConfig()
    {
        var options = Bind<GemmShapesCommand, GemmShapesOptions>(c => c.Bind, "gemm-shapes", "--cpu");
        Assert.Equal(CleftStepConfig.All.Select(c => c.VitHidden), options.Sizes);
        Assert.Equal((7, true), (options.Rounds, options.Cpu));
    }

    [Fact]
    public void SideBySideReadsCommaListsAndInvariantNumbers()
    {
        var options = Bind<SideBySideCommand, SideBySideOptions>(c => c.Bind, "side-by-side", "--cases", "gemm,gemm-nn,cleft-step",
            "--sizes", "192,384", "--min-seconds", "0.5", "--openblas-coretype", "SkylakeX", "--rounds", "2");
        Assert.Equal(["gemm", "gemm-nn", "cleft-step"], options.CaseNames!);
        Assert.Equal([192, 384], options.Sizes!);
        Assert.Equal(0.5, options.MinSeconds);
        Assert.Equal("SkylakeX", options.CoreType);
        Assert.Equal((2, 2, 6), (options.Rounds, options.Warmup, options.Steps));
    }

    [Fact]
    public void AbsentListsStayNullSoTheRunPicksItsDefaults()
    {
        // Not empty: an empty --cases would run nothing, and an empty --sizes would hide cleft-step's own default sizes.
        var options = Bind<SideBySideCommand, SideBySideOptions>(c => c.Bind, "side-by-side");
        Assert.Null(options.CaseNames);
        Assert.Null(options.Sizes);
        Assert.Equal("/usr/bin/python3", options.Python);
        Assert.Null(options.Script);
    }

    [Theory]
    [InlineData("'--bogus'", "gemm-shapes", "--bogus")]
    [InlineData("'--openblas-coretype'", "gemm-shapes", "--openblas-coretype", "X")]
    [InlineData("--rounds: 'x' is not an integer", "side-by-side", "--rounds", "x")]
    [InlineData("--rounds 0: must be at least 1", "gemm-shapes", "--rounds", "0")]
    [InlineData("--sizes: 'x' is not an integer", "side-by-side", "--sizes", "192,x")]
    [InlineData("'384'", "side-by-side", "--sizes", "192", "384")]
    [InlineData("--min-seconds: '0,5' is not a number", "side-by-side", "--min-seconds", "0,5")]
    [InlineData("--cases nope: unknown case; known: gemm,", "side-by-side", "--cases", "gemm,nope")]
    [InlineData("--steps 0: must be at least 1", "profile-step", "--steps", "0")]
    [InlineData("--warmup -1: must be at least 0", "profile-step", "--warmup", "-1")]
    [InlineData("--sizes 999: no cleft-step config", "profile-step", "--sizes", "192,999")]
    [InlineData("--sizes 256: no cleft-step config", "gemm-shapes", "--sizes", "256")]
    [InlineData("'frobnicate'", "frobnicate")]
    public void BadCommandLinesGiveOneLineNamingTheProblemAndExitCode2(string expected, params string[] args)
    {
        // Checked first so that a command line the parser wrongly accepts fails here instead of starting a benchmark.
        Assert.NotEmpty(BenchmarkConsole.Parse(args).Errors);
        var (code, _, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Single(error.Trim().Split('\n'));
        Assert.StartsWith("Cleft.Benchmarks", error);
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData]
    [InlineData("--filter", "*Gemm*")]
    [InlineData("--filter", "*Gemm*", "--job", "short", "-m", "--exporters", "json", "--filter=*Square*", "@args.rsp")]
    public void BdnPassesItsTokensToBenchmarkDotNetUnchanged(params string[] tokens)
    {
        var parsed = Parsed(["bdn", .. tokens]);
        Assert.Equal(tokens.Length == 0 ? ["--filter", "*"] : tokens, BenchmarkConsole.BdnArguments(parsed));
    }

    [Fact]
    public void BdnHelpIsOursAndBenchmarkDotNetsFollowsADoubleDash()
    {
        Assert.Contains("bdn -- --help", Run("bdn", "--help").Out);
        Assert.Equal(["--help"], BenchmarkConsole.BdnArguments(Parsed("bdn", "--", "--help")));
    }

    /// <summary>What the command's action would hand to the measurement code.</summary>
    static TOptions Bind<TCommand, TOptions>(Func<TCommand, Func<ParseResult, TOptions>> bind, params string[] args) where TCommand : Command
    {
        var parsed = Parsed(args);
        return bind((TCommand)parsed.CommandResult.Command)(parsed);
    }

    static ParseResult Parsed(params string[] args)
    {
        var parsed = BenchmarkConsole.Parse(args);
        Assert.True(parsed.Errors.Count == 0, string.Join("; ", parsed.Errors.Select(e => e.Message)));
        return parsed;
    }

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchmarkConsole.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
