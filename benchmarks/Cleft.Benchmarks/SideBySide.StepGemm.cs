using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

public static partial class SideBySide
{
    /// <summary>
    /// The GEMM shapes of one cleft-step ViT MLP (size = ViT width C, R = batch x 201 tokens rows): the forward
    /// (R x C by C x 4C), the input gradient (R x 4C by 4C x C) and both weight gradients (4C x R by R x C, C x R by
    /// R x 4C: tall-skinny, K = R). Each case runs all four in one storage layout, so NN, NT and TN differ only in
    /// how the operands lie in memory (issue 10: every transpose case at the NN rate). Matching torch functions:
    /// benchmarks/torch_gemm.py (STEP_SHAPES; same rows per size).
    /// </summary>
    static BenchCase[] StepGemmCases() =>
    [
        new("gemm-nn", "gemm-nn", "cleft-step MLP shapes (size = ViT width), A [M,K] B [K,N]", c => StepGemm(c, false, false), IsStepSize),
        new("gemm-nt", "gemm-nt", "cleft-step MLP shapes, B stored [N,K] (x W^T: nn.Linear forward)", c => StepGemm(c, false, true), IsStepSize),
        new("gemm-tn", "gemm-tn", "cleft-step MLP shapes, A stored [K,M] (dW = dY^T X)", c => StepGemm(c, true, false), IsStepSize),
    ];

    static bool IsStepSize(int c) => CleftStepConfig.All.Any(config => config.VitHidden == c);

    /// <summary>(M, N, K) of the four GEMMs for ViT width <paramref name="c"/>.</summary>
    internal static (int M, int N, int K)[] StepGemmShapes(int c)
    {
        int rows = StepRows(c);
        return [(rows, 4 * c, c), (rows, c, 4 * c), (4 * c, c, rows), (c, 4 * c, rows)];
    }

    /// <summary>R, the ViT's batch x tokens rows at width <paramref name="c"/>: the weight gradients' K.</summary>
    static int StepRows(int c) => CleftStepConfig.ForSize(c).Batch * CleftStepConfig.Tokens;

    static Workload StepGemm(int c, bool transA, bool transB)
    {
        var work = StepGemmShapes(c).Select((s, i) => StepGemmWorkload(s, i, transA, transB)).ToArray();
        return new Workload(() => { foreach (var w in work) w.Run(); }, work.Sum(w => w.Flops));
    }

    static Workload StepGemmWorkload((int M, int N, int K) s, int seed, bool transA, bool transB)
    {
        var a = Data.Uniform((long)s.M * s.K, 2 * seed + 1);
        var b = Data.Uniform((long)s.K * s.N, 2 * seed + 2);
        var c = new float[(long)s.M * s.N];
        var shape = GemmShape.Contiguous(1, s.M, s.N, s.K, transA, transB);
        return new Workload(() => CpuGemm.Multiply(a, b, c, shape), shape.Flops);
    }

    /// <summary>
    /// `gemm-shapes`: ours only, GFLOP/s per step shape and layout, and NT and TN over NN (issue 10: every transpose case
    /// at the NN rate). Within a round the three layouts alternate call by call (NN, NT, TN, NN, NT, TN, ...) and each
    /// layout's rate is the median of its calls, so all three see the same phases of the machine's speed: measured one
    /// layout after the other for 0.4 s each instead, whichever ran last in a round came out 5-10% slower, in either
    /// order (cause not found: the same layout four times in a row on kept operands showed no such drop;
    /// docs/PERFORMANCE.md, seventh round). The
    /// ratios are medians of the per-round ratios. --cpu divides by the process's CPU time instead of wall time: on a
    /// machine others are loading, run it with DOTNET_PROCESSOR_COUNT=1 to compare layouts by the work they cost rather
    /// than by the time slices they got.
    /// </summary>
    public static void GemmShapes(GemmShapesOptions options)
    {
        var (sizes, rounds, cpu) = options;
        Console.WriteLine($"{Environment.ProcessorCount} threads, {(cpu ? "GFLOP per CPU second" : "GFLOP/s (wall)")}, " +
            $"median of {rounds} rounds (NN, NT, TN alternating call by call in each round); ratios: median of the per-round " +
            "ratios, with their range over the rounds");
        Console.WriteLine(GemmBlocking());
        // Which layouts the step itself runs at a shape: a linear layer's weight is stored [in, out], so its forward is NN
        // and its input gradient dY W^T is NT (both rows x ...), its weight gradient X^T dY is TN (... x rows).
        Console.WriteLine("| size | M x N x K | the step runs | NN | NT | TN | NT / NN | TN / NN |");
        Console.WriteLine("|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (int size in sizes)
            foreach (var s in StepGemmShapes(size))
            {
                var rates = new[] { new List<double>(), new List<double>(), new List<double>() };
                for (int r = 0; r < rounds; r++)
                {
                    // Operands allocated anew each round: which physical pages a run's arrays land on moves the
                    // transposed packs' cache conflicts, and a ratio taken over one allocation kept that run's luck.
                    Workload[] layouts = [StepGemmWorkload(s, r, false, false), StepGemmWorkload(s, r, false, true), StepGemmWorkload(s, r, true, false)];
                    var seconds = AlternatingMedianSeconds(layouts.Select(w => w.Run).ToArray(), cpu, 0.2);
                    for (int l = 0; l < layouts.Length; l++) rates[l].Add(layouts[l].Flops / seconds[l] / 1e9);
                }
                string Ratio(int l)
                {
                    var perRound = rates[l].Zip(rates[0], (x, nn) => x / nn).ToList();
                    return $"{Median(perRound):F2} ({perRound.Min():F2}-{perRound.Max():F2})";
                }
                string stepRuns = s.K == StepRows(size) ? "TN" : "NN, NT";
                Console.WriteLine($"| {size} | {s.M} x {s.N} x {s.K} | {stepRuns} | {Median(rates[0]):F1} | {Median(rates[1]):F1} | " +
                    $"{Median(rates[2]):F1} | {Ratio(1)} | {Ratio(2)} |");
            }
    }

    /// <summary>
    /// Median seconds per call of each of <paramref name="runs"/>, timed in turn call by call (three warm-up calls each,
    /// then at least 7 timed calls each and about <paramref name="minSeconds"/> of them), by the wall clock or, with
    /// <paramref name="cpu"/>, by the process's CPU time.
    /// </summary>
    static double[] AlternatingMedianSeconds(Action[] runs, bool cpu, double minSeconds)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        var total = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) foreach (var run in runs) run();
        int calls = Math.Max(7, (int)(minSeconds / Math.Max(1e-6, total.Elapsed.TotalSeconds / 3 / runs.Length)));
        var times = runs.Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < Math.Min(calls, 1000); i++)
            for (int l = 0; l < runs.Length; l++)
            {
                if (cpu) process.Refresh();
                var cpu0 = cpu ? process.TotalProcessorTime : default;
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                runs[l]();
                if (cpu) process.Refresh();
                times[l].Add(cpu ? (process.TotalProcessorTime - cpu0).TotalSeconds : System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
        return times.Select(Median).ToArray();
    }
}

/// <summary>What `gemm-shapes` measures (the options are declared in <see cref="GemmShapesCommand"/>).</summary>
/// <param name="Sizes">ViT widths of <see cref="CleftStepConfig.All"/>.</param>
/// <param name="Rounds">Rounds; each measures NN, NT and TN of a shape in turn.</param>
/// <param name="Cpu">Divide by the process's CPU time instead of wall time.</param>
public sealed record GemmShapesOptions(int[] Sizes, int Rounds, bool Cpu);
