using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

/// <summary>
/// BenchmarkDotNet timing of the managed fp32 GEMM on square problems (row-major, no transposes).
/// Run: dotnet run -c Release --project benchmarks/Cleft.Benchmarks -- bdn [--filter *Gemm*]
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBenchmarks
{
    [Params(256, 512, 1024, 2048)]
    public int N;

    float[] _a = [], _b = [], _c = [];
    GemmShape _shape;

    [GlobalSetup]
    public void Setup()
    {
        _a = Data.Uniform((long)N * N, 1);
        _b = Data.Uniform((long)N * N, 2);
        _c = new float[(long)N * N];
        _shape = GemmShape.Contiguous(1, N, N, N);
    }

    [Benchmark]
    public void Gemm() => CpuGemm.Multiply(_a, _b, _c, _shape);

    /// <summary>
    /// In-process (the benchmark project's own Release build, so CLEFT_BUILD_ROOT output folders just
    /// work), a modest iteration count (2048^3 takes ~0.1 s a call), and the GFLOP/s column.
    /// </summary>
    sealed class GemmConfig : ManualConfig
    {
        public GemmConfig()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(12));
            AddColumn(new GflopsColumn(p => 2.0 * Math.Pow(Convert.ToDouble(p["N"]), 3)));
            // Reports go next to the build outputs when those are relocated, not into the source tree.
            string? root = Environment.GetEnvironmentVariable("CLEFT_BUILD_ROOT");
            if (!string.IsNullOrEmpty(root)) ArtifactsPath = Path.Combine(root, "BenchmarkDotNet.Artifacts");
        }
    }
}

/// <summary>
/// Throughput column: flops of the case (from its parameters) over the median time. Reusable for any
/// benchmark whose work is a function of its [Params].
/// </summary>
public sealed class GflopsColumn(Func<BenchmarkDotNet.Parameters.ParameterInstances, double> flops) : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Billions of floating-point operations per second at the median time (2 N^3 per GEMM)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats == null || stats.Median <= 0) return "NA";
        return (flops(benchmarkCase.Parameters) / stats.Median).ToString("F1"); // flop per ns = GFLOP/s
    }

    public override string ToString() => ColumnName;
}
