using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using BenchmarkDotNet.Running;
using static Cleft.Benchmarks.ConsoleOptions;

namespace Cleft.Benchmarks;

/// <summary>
/// The benchmark console on System.CommandLine, in the manner of the `cleft` console (Cleft.Train's CliApp): every
/// command has --help with its defaults; a wrong command line is one line on stderr naming the option and exit code 2,
/// before anything is measured; no command prints the overview with exit code 2. The commands are in BenchmarkCommands.cs.
/// </summary>
public static class BenchmarkConsole
{
    const string Name = "Cleft.Benchmarks";

    // BenchmarkDotNet's arguments must reach it unchanged, so no token may be read as a response file (@file).
    static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    /// <summary>The ViT widths of the cleft-step configs: the sizes profile-step and gemm-shapes accept.</summary>
    internal static readonly int[] StepWidths = [.. CleftStepConfig.All.Select(c => c.VitHidden)];

    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var parsed = Parse(args);
        if (parsed.Errors.Count > 0)
        {
            string command = string.Join(' ', CommandPath(parsed.CommandResult).Prepend(Name));
            error.WriteLine($"{command}: {parsed.Errors[0].Message} (see '{command} --help')");
            return 2;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
    }

    /// <summary>Parses a command line without running it.</summary>
    public static ParseResult Parse(params string[] args) => Create().Parse(args, Parsing);

    public static RootCommand Create()
    {
        var root = new RootCommand($"{Name}: our engine against PyTorch, the cleft-step profile and GEMM shapes, the BenchmarkDotNet suites");
        foreach (var command in new Command[] { new SideBySideCommand(), new ProfileStepCommand(), new GemmShapesCommand(), BdnCommand() })
            root.Subcommands.Add(command);
        // No command: the overview, as a usage error. An action here also makes `Cleft.Benchmarks frobnicate` report the
        // unknown word rather than a missing command.
        root.SetAction(r =>
        {
            new HelpAction().Invoke(r);
            return 2;
        });
        return root;
    }

    /// <summary>What `bdn` hands to BenchmarkSwitcher: its tokens as given, or every benchmark when there are none.</summary>
    public static string[] BdnArguments(ParseResult parsed) => parsed.UnmatchedTokens.Count == 0 ? ["--filter", "*"] : [.. parsed.UnmatchedTokens];

    static Command BdnCommand()
    {
        // BenchmarkDotNet's options are not declared here: they stay unmatched tokens and are passed on as they are.
        var cmd = new Command("bdn", "the BenchmarkDotNet suites (GemmBenchmarks: a GFLOP/s column); every further argument goes to " +
            "BenchmarkDotNet unchanged, e.g. --filter *Gemm* (default: --filter *); its own options: bdn -- --help") { TreatUnmatchedTokensAsErrors = false };
        cmd.SetAction(r => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(BdnArguments(r)));
        return cmd;
    }

    // The options more than one command has, declared once.
    internal static Option<int[]?> Sizes(string description, Func<int, string?> check) => List("sizes", description, "N,...", check);

    internal static Option<int[]?> StepSizes() => Sizes($"ViT widths of the cleft-step configs, comma-separated (default: {string.Join(',', StepWidths)})",
        v => StepWidths.Contains(v) ? null : $"no cleft-step config of this ViT width; its widths are {string.Join(", ", StepWidths)}");

    internal static Option<int> Rounds(int defaultValue, string description) => Number("rounds", defaultValue, description, AtLeast(1));

    internal static Option<int> Warmup(string description) => Number("warmup", 2, description, AtLeast(0));

    internal static Option<int> Steps(int defaultValue, string description) => Number("steps", defaultValue, description, AtLeast(1));

    /// <summary>"gemm-shapes" for a subcommand's result, nothing for the root's.</summary>
    static IEnumerable<string> CommandPath(CommandResult result) =>
        result.Command is RootCommand || result.Parent is not CommandResult parent ? [] : CommandPath(parent).Append(result.Command.Name);
}
