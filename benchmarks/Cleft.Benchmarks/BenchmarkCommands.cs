using System.CommandLine;
using static Cleft.Benchmarks.ConsoleOptions;

namespace Cleft.Benchmarks;

/// <summary>`side-by-side`: ours vs PyTorch (<see cref="SideBySide.Run"/>).</summary>
public sealed class SideBySideCommand : Command
{
    readonly Option<string[]?> _cases = List<string>("cases", $"cases, comma-separated: {string.Join(", ", SideBySide.CaseNames)} (default: " +
        $"all but {SideBySide.CleftStepName}, which runs only when named, after the others: one whole stage-1 training step)", "CASE,...",
        name => SideBySide.CaseNames.Contains(name) ? null : $"unknown case; known: {string.Join(", ", SideBySide.CaseNames)}");
    readonly Option<int[]?> _sizes = BenchmarkConsole.Sizes($"sizes, comma-separated (default: {string.Join(',', SideBySide.DefaultSizes)}; " +
        $"{SideBySide.CleftStepName}: the ViT widths of its configs, {string.Join(',', BenchmarkConsole.StepWidths)}); a case with fixed " +
        "shapes skips the sizes it does not have", AtLeast(1));
    readonly Option<int> _rounds = BenchmarkConsole.Rounds(3, "rounds; each times ours, then torch, so both sides see the same background load");
    readonly Option<double> _minSeconds = Number("min-seconds", 1.0, "seconds to repeat each measurement for at least (the median of the repeats counts)",
        v => v >= 0 && double.IsFinite(v) ? null : "must be a number >= 0");
    readonly Option<string> _python = Text("python", "/usr/bin/python3", "the Python that runs the torch side (Debian python3 with python3-torch)");
    readonly Option<string?> _script = Optional("script", "benchmarks/torch_gemm.py, the torch side; the other torch scripts sit beside it " +
        "(default: searched upward from the working directory, then beside this project's source)", "PATH");
    readonly Option<string?> _coreType = Optional("openblas-coretype", "sets OPENBLAS_CORETYPE for torch, for CPUs that OpenBLAS does not " +
        "recognise (it then falls back to a slow generic kernel; see docs/PERFORMANCE.md)", "NAME");
    readonly Option<int> _warmup = BenchmarkConsole.Warmup($"{SideBySide.CleftStepName}: warm-up steps per round and side");
    readonly Option<int> _steps = BenchmarkConsole.Steps(6, $"{SideBySide.CleftStepName}: timed steps per round and side");

    public SideBySideCommand() : base("side-by-side", "ours vs PyTorch in one run, as tables: each round times every case at every size in " +
        "our engine (JIT warmed, median of repeats), then runs the torch script once per case for the same sizes")
    {
        foreach (Option option in new Option[] { _sizes, _cases, _rounds, _minSeconds, _python, _script, _coreType, _warmup, _steps }) Options.Add(option);
        SetAction(r => SideBySide.Run(Bind(r)));
    }

    public SideBySideOptions Bind(ParseResult parsed) => new(parsed.GetList(_cases), parsed.GetList(_sizes), parsed.GetValue(_rounds),
        parsed.GetValue(_minSeconds), parsed.GetValue(_python)!, parsed.GetValue(_script), parsed.GetValue(_coreType), parsed.GetValue(_warmup),
        parsed.GetValue(_steps));
}

/// <summary>`profile-step`: where a cleft-step training step spends its time (<see cref="StepProfile.Run"/>).</summary>
public sealed class ProfileStepCommand : Command
{
    readonly Option<int[]?> _sizes = BenchmarkConsole.StepSizes();
    readonly Option<int> _warmup = BenchmarkConsole.Warmup("warm-up steps before the profiled ones");
    readonly Option<int> _steps = BenchmarkConsole.Steps(5, "profiled steps");

    public ProfileStepCommand() : base("profile-step", "where one cleft-step training step spends its time: forward and backward per op, " +
        "the rest of the step (AdamW, clipping, uploads), the managed heap and buffer pool per step; markdown tables")
    {
        foreach (Option option in new Option[] { _sizes, _warmup, _steps }) Options.Add(option);
        SetAction(r => StepProfile.Run(Bind(r)));
    }

    public StepProfileOptions Bind(ParseResult parsed) =>
        new(parsed.GetList(_sizes) ?? BenchmarkConsole.StepWidths, parsed.GetValue(_warmup), parsed.GetValue(_steps));
}

/// <summary>`gemm-shapes`: the cleft-step GEMM shapes as NN, NT and TN (<see cref="SideBySide.GemmShapes"/>).</summary>
public sealed class GemmShapesCommand : Command
{
    readonly Option<int[]?> _sizes = BenchmarkConsole.StepSizes();
    readonly Option<int> _rounds = BenchmarkConsole.Rounds(7, "rounds; in each, NN, NT and TN of a shape alternate call by call, so all " +
        "three see the same phases of a shared machine's speed");
    readonly Option<bool> _cpu = Flag("cpu", "divide by the process's CPU time instead of wall time: on a machine others are loading, run " +
        "with DOTNET_PROCESSOR_COUNT=1 to compare layouts by the work they cost rather than by the time slices they got");

    public GemmShapesCommand() : base("gemm-shapes", "ours only: GFLOP/s of each cleft-step GEMM shape as NN, NT and TN, and NT and TN " +
        "over NN (medians of the per-round ratios, with their range)")
    {
        foreach (Option option in new Option[] { _sizes, _rounds, _cpu }) Options.Add(option);
        SetAction(r => SideBySide.GemmShapes(Bind(r)));
    }

    public GemmShapesOptions Bind(ParseResult parsed) =>
        new(parsed.GetList(_sizes) ?? BenchmarkConsole.StepWidths, parsed.GetValue(_rounds), parsed.GetValue(_cpu));
}
