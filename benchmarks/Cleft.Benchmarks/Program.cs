using BenchmarkDotNet.Running;

namespace Cleft.Benchmarks;

/// <summary>
/// Entry point.
///   side-by-side [--sizes 256,512,1024,2048] [--cases gemm] [--rounds 3] [--min-seconds 1] [--python /usr/bin/python3]
///       ours vs PyTorch in one run, as a table (see SideBySide.cs)
///   side-by-side --cases cleft-step [--sizes 192,384] [--rounds 3] [--warmup 2] [--steps 6]
///       one whole stage-1 CLEFT training step, ours vs PyTorch (see SideBySide.CleftStep.cs)
///   profile-step [--sizes 192,384] [--warmup 2] [--steps 5]
///       where one cleft-step training step spends its time: backward per op, rest of the step, heap (StepProfile.cs)
///   gemm-shapes [--sizes 192,384] [--rounds 7] [--cpu]
///       ours only: GFLOP/s of each cleft-step GEMM shape as NN, NT and TN (SideBySide.StepGemm.cs)
///   bdn [BenchmarkDotNet arguments, e.g. --filter *Gemm*]
///       the BenchmarkDotNet suites (GemmBenchmarks: GFLOP/s column)
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string command = args.Length > 0 ? args[0] : "";
        switch (command)
        {
            case "side-by-side":
                return SideBySide.Run(args[1..]);
            case "profile-step":
                return StepProfile.Run(args[1..]);
            case "gemm-shapes":
                return SideBySide.GemmShapes(args[1..]);
            case "bdn":
                var rest = args[1..];
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
                    .Run(rest.Length == 0 ? ["--filter", "*"] : rest);
                return 0;
            default:
                Console.Error.WriteLine("usage: Cleft.Benchmarks side-by-side [--sizes 256,512,1024,2048] [--cases gemm] [--rounds R] [--min-seconds S] [--python PATH]");
                Console.Error.WriteLine("       Cleft.Benchmarks side-by-side --cases cleft-step [--sizes 192,384] [--rounds R] [--warmup W] [--steps S]");
                Console.Error.WriteLine("       Cleft.Benchmarks profile-step [--sizes 192,384] [--warmup W] [--steps S]");
                Console.Error.WriteLine("       Cleft.Benchmarks gemm-shapes [--sizes 192,384] [--rounds 7] [--cpu]");
                Console.Error.WriteLine("       Cleft.Benchmarks bdn [BenchmarkDotNet arguments, e.g. --filter *Gemm*]");
                return command is "" or "-h" or "--help" ? 0 : 2;
        }
    }
}
