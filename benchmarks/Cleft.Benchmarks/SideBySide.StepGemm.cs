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
        int rows = CleftStepConfig.ForSize(c).Batch * CleftStepConfig.Tokens;
        return [(rows, 4 * c, c), (rows, c, 4 * c), (4 * c, c, rows), (c, 4 * c, rows)];
    }

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
    /// `gemm-shapes`: ours only, GFLOP/s per step shape and layout, and NT and TN
    /// over NN (issue 10: every transpose case at the NN rate). The three layouts of a shape are measured in turn, round
    /// after round, so all three see the same phases of a shared VM's speed; the ratios are medians of the per-round
    /// ratios. --cpu divides by the process's CPU time instead of wall time: on a machine others are loading, run it
    /// with DOTNET_PROCESSOR_COUNT=1 to compare layouts by the work they cost rather than by the time slices they got.
    /// </summary>
    public static void GemmShapes(GemmShapesOptions options)
    {
        var (sizes, rounds, cpu) = options;
        Console.WriteLine($"{Environment.ProcessorCount} threads, {(cpu ? "GFLOP per CPU second" : "GFLOP/s (wall)")}, " +
            $"median of {rounds} rounds (NN, NT, TN in turn each round); ratios: median of the per-round ratios");
        Console.WriteLine(GemmBlocking());
        Console.WriteLine("| size | M x N x K | NN | NT | TN | NT / NN | TN / NN |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|");
        foreach (int size in sizes)
            foreach (var s in StepGemmShapes(size))
            {
                var rates = new[] { new List<double>(), new List<double>(), new List<double>() };
                for (int r = 0; r < rounds; r++)
                {
                    // Operands allocated anew each round: which physical pages a run's arrays land on moves the
                    // transposed packs' cache conflicts, and a ratio taken over one allocation kept that run's luck.
                    Workload[] layouts = [StepGemmWorkload(s, r, false, false), StepGemmWorkload(s, r, false, true), StepGemmWorkload(s, r, true, false)];
                    for (int l = 0; l < layouts.Length; l++)
                        rates[l].Add(layouts[l].Flops / (cpu ? MedianCpuSeconds(layouts[l].Run) : MedianSeconds(layouts[l].Run, 0.2)) / 1e9);
                }
                double Ratio(int l) => Median(rates[l].Zip(rates[0], (x, nn) => x / nn).ToList());
                Console.WriteLine($"| {size} | {s.M} x {s.N} x {s.K} | {Median(rates[0]):F1} | {Median(rates[1]):F1} | {Median(rates[2]):F1} | " +
                    $"{Ratio(1):F2} | {Ratio(2):F2} |");
            }
    }

    static double MedianCpuSeconds(Action run)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        for (int i = 0; i < 3; i++) run();
        var times = new List<double>();
        for (int i = 0; i < 9; i++)
        {
            process.Refresh();
            var t0 = process.TotalProcessorTime;
            run();
            process.Refresh();
            times.Add((process.TotalProcessorTime - t0).TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}

/// <summary>What `gemm-shapes` measures (the options are declared in <see cref="GemmShapesCommand"/>).</summary>
/// <param name="Sizes">ViT widths of <see cref="CleftStepConfig.All"/>.</param>
/// <param name="Rounds">Rounds; each measures NN, NT and TN of a shape in turn.</param>
/// <param name="Cpu">Divide by the process's CPU time instead of wall time.</param>
public sealed record GemmShapesOptions(int[] Sizes, int Rounds, bool Cpu);
