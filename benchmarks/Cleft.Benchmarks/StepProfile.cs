using System.Diagnostics;
using System.Globalization;
using Cleft.Autograd;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

/// <summary>What `profile-step` profiles (the options are declared in <see cref="ProfileStepCommand"/>).</summary>
/// <param name="Sizes">ViT widths of <see cref="CleftStepConfig.All"/>, one profile each.</param>
/// <param name="Warmup">Steps before the profiled ones.</param>
/// <param name="Steps">Profiled steps.</param>
public sealed record StepProfileOptions(int[] Sizes, int Warmup, int Steps);

/// <summary>
/// `profile-step`: where a cleft-step training step spends its time (issue 10's profile, docs/PERFORMANCE.md). Per
/// config: the median step and forward times, the forward pass per op (<see cref="ForwardProfile"/>: time since the previous
/// recorded op), the backward pass per op (<see cref="BackwardProfile"/>), the rest of
/// the step (AdamW, clipping, uploads) as the remainder, and the managed heap's behaviour per step (allocated bytes,
/// gen0/1/2 collections). Markdown tables, so a run can be pasted into the docs as it is.
/// </summary>
public static class StepProfile
{
    public static void Run(StepProfileOptions options)
    {
        foreach (int size in options.Sizes) Profile(CleftStepConfig.ForSize(size), options.Warmup, options.Steps);
    }

    static void Profile(CleftStepConfig config, int warmup, int steps)
    {
        using var run = new CleftStepCase(config);
        Console.WriteLine($"## profile-step: {config}, {Environment.ProcessorCount} cores, {warmup} warm-up steps, {steps} profiled steps");
        Console.WriteLine(SideBySide.GemmBlocking());
        var pool = run.Device.Pool;
        for (int i = 0; i < warmup; i++) { run.Step(); run.Device.TrimPool(); }

        var profile = new BackwardProfile();
        var stepTimes = new double[steps];
        int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
        long allocated = GC.GetTotalAllocatedBytes(precise: true), peakBytes = 0, stepWork = CpuWork.Flops;
        using (profile.Record())
        {
            for (int i = 0; i < steps; i++)
            {
                pool.ResetPeak();
                long t0 = Stopwatch.GetTimestamp();
                run.Step();
                stepTimes[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                peakBytes = Math.Max(peakBytes, pool.PeakLiveBytes);
                // Between steps, as a training loop would: gives back buffers above the step's high-water mark.
                run.Device.TrimPool();
            }
        }
        double allocatedPerStep = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)steps;
        gen0 = GC.CollectionCount(0) - gen0; gen1 = GC.CollectionCount(1) - gen1; gen2 = GC.CollectionCount(2) - gen2;
        double stepFlops = (CpuWork.Flops - stepWork) / (double)steps;

        var forwards = new double[Math.Max(3, steps)];
        long afterForward = 0;
        var forwardProfile = new ForwardProfile();
        long forwardWork = CpuWork.Flops;
        for (int i = 0; i < forwards.Length; i++)
        {
            using var recording = forwardProfile.Record();
            long t0 = Stopwatch.GetTimestamp();
            afterForward = run.Forward();
            forwards[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        double step = Median(stepTimes), forward = Median(forwards), backward = profile.TotalSeconds / steps;
        // AdamW and clipping do no matrix products, so the step's work less the forward's is the backward's.
        double forwardFlops = (CpuWork.Flops - forwardWork) / (double)forwards.Length, backwardFlops = stepFlops - forwardFlops;
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"step {step * 1e3:F0} ms (median): forward {forward * 1e3:F0} ms (median of {forwards.Length}), backward {backward * 1e3:F0} ms " +
            $"(mean, {backward / forward:F2}x forward), rest (AdamW, clipping, uploads: the step less forward and backward, which " +
            $"are timed in other passes, so on a noisy machine it can come out negative) {(step - forward - backward) * 1e3:F0} ms"));
        Console.WriteLine(string.Create(inv,
            $"matrix work per step (GEMMs and attention products, CpuWork): forward {forwardFlops / 1e9:F1} GFLOP at " +
            $"{forwardFlops / forward / 1e9:F0} GFLOP/s, backward {backwardFlops / 1e9:F1} GFLOP ({backwardFlops / forwardFlops:F2}x forward's) at " +
            $"{backwardFlops / backward / 1e9:F0} GFLOP/s"));
        Console.WriteLine(string.Create(inv,
            $"managed heap per step: {allocatedPerStep / (1 << 20):F1} MiB allocated; over {steps} steps gen0 {gen0}, gen1 {gen1}, gen2 {gen2} collections"));
        Console.WriteLine(string.Create(inv,
            $"buffer pool: peak {peakBytes / (double)(1 << 20):F0} MiB live in a step ({afterForward / (double)(1 << 20):F0} MiB at the end of forward), {pool.ReservedBytes / (double)(1 << 20):F0} MiB reserved after trimming to the high-water mark"));
        Console.WriteLine();
        PrintOps("forward", forwardProfile, forwards.Length);
        PrintOps("backward", profile, steps);
    }

    static void PrintOps(string pass, OpTimes profile, int steps)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"| {pass} op | ms per step | calls per step | share of {pass} |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (op, seconds, calls) in profile.Entries)
            Console.WriteLine(string.Create(inv,
                $"| {op} | {seconds / steps * 1e3:F1} | {calls / (double)steps:F0} | {seconds / profile.TotalSeconds * 100:F1}% |"));
        Console.WriteLine();
    }

    static double Median(double[] xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
