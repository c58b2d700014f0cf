namespace Cleft.Benchmarks;

/// <summary>
/// Entry point: side-by-side, profile-step, gemm-shapes and bdn (<see cref="BenchmarkConsole"/>; `--help` lists
/// them and their options).
/// </summary>
public static class Program
{
    public static int Main(string[] args) => BenchmarkConsole.Run(args);
}
