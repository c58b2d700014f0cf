using System.Globalization;
using System.Text.Json;

namespace Cleft.Benchmarks;

/// <summary>
/// The cleft-step case: one whole stage-1 training step (forward, symmetric InfoNCE, backward, AdamW) of a
/// small CLEFT in our engine (<see cref="CleftStepCase"/>) and in PyTorch (benchmarks/torch_cleft_step.py),
/// per config (size = ViT width, see <see cref="CleftStepConfig.All"/>). Rounds alternate ours and torch; the
/// torch side runs as a subprocess per round, so its peak RSS is its own. Unlike the flop cases it reports
/// steps/s, images/s, forward and backward + AdamW times and peak RSS, not GFLOP/s.
/// </summary>
public static partial class SideBySide
{
    public const string CleftStepName = "cleft-step";

    readonly record struct StepRound(StepTimes Times, double PeakRssMiB);

    static int RunCleftStep(int[] sizes, int rounds, int warmup, int steps, TorchLauncher torchRun)
    {
        // As the other fixed-shape cases do, skip the sizes it has no config for (--sizes 192,384,1024 with gemm);
        // only a list with none of them is an error.
        int[] known = sizes.Where(n => CleftStepConfig.All.Any(c => c.VitHidden == n)).ToArray();
        CleftStepConfig[] configs;
        try { configs = (known.Length > 0 ? known : sizes).Select(CleftStepConfig.ForSize).ToArray(); }
        catch (ArgumentException e) { Console.Error.WriteLine(e.Message); return 2; }
        if (known.Length < sizes.Length)
            Console.WriteLine($"{CleftStepName}: skipping size {string.Join(", ", sizes.Except(known))}: its configs are ViT widths " +
                string.Join(", ", CleftStepConfig.All.Select(c => c.VitHidden)));
        // Forward passes are timed apart from the steps (the trainer's step cannot be split from outside).
        int forwards = Math.Max(3, steps / 2);
        string? script = torchRun.Sibling("torch_cleft_step.py");
        Console.WriteLine($"{CleftStepName}: per round and side {warmup} warm-up steps, median of {steps} steps and of {forwards} forward passes");

        var ours = new Dictionary<int, List<StepRound>>();
        var torch = new Dictionary<int, List<StepRound>>();
        string? torchInfo = null, torchError = null;
        for (int round = 1; round <= rounds; round++)
        {
            Console.WriteLine($"-- {CleftStepName} round {round} of {rounds}");
            foreach (var config in configs)
            {
                ResetPeakRss();
                var mine = MeasureOurs(config, round == 1, warmup, steps, forwards, out var counts);
                AddRound(ours, config.VitHidden, mine);
                PrintRound("ours", config, mine);
                if (torchError != null) continue;

                string[] args = [.. config.TorchArgs(), "--warmup", $"{warmup}", "--steps", $"{steps}", "--forwards", $"{forwards}",
                    "--threads", $"{torchRun.Threads}", "--expect", $"{counts.Image},{counts.Text},{counts.Head},{counts.Total}"];
                string? stdout = torchRun.Run(script, args, round == 1, out torchError, out int exitCode);
                if (stdout == null)
                {
                    Console.WriteLine($"torch  {config}: not measured: {torchError}");
                    // Exit code 3: the scripts' models differ in parameter counts, so no ratio would mean anything.
                    if (exitCode == 3) return 1;
                    continue;
                }
                try
                {
                    using var doc = JsonDocument.Parse(stdout);
                    var root = doc.RootElement;
                    torchInfo ??= $"torch {root.GetProperty("torch").GetString()} on {root.GetProperty("threads").GetInt32()} threads, BLAS: {root.GetProperty("blas").GetString()}";
                    if (round == 1) Console.WriteLine($"torch  {config}: {root.GetProperty("counts").GetString()} (checked equal to ours)");
                    var theirs = new StepRound(new StepTimes(root.GetProperty("step_seconds").GetDouble(), root.GetProperty("forward_seconds").GetDouble()),
                        root.GetProperty("peak_rss_mib").GetDouble());
                    AddRound(torch, config.VitHidden, theirs);
                    PrintRound("torch", config, theirs);
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    torchError = $"could not read torch_cleft_step.py's output ({e.Message}): {Tail(stdout)}";
                    Console.WriteLine($"torch  {config}: {torchError}");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(torchInfo ?? $"torch: not measured ({torchError})");
        if (rounds > 1)
        {
            Console.WriteLine();
            Console.WriteLine($"Best of {rounds} rounds (per side and column, the least-disturbed round):");
            PrintStepTable(configs, ours, torch, l => l.Min());
            Console.WriteLine();
            Console.WriteLine($"Median of {rounds} rounds:");
        }
        Console.WriteLine();
        PrintStepTable(configs, ours, torch, Median);
        return 0;
    }

    /// <summary>
    /// Our side of one round of one config. A method of its own so that nothing of the case is reachable once it
    /// returns. Inline in the round loop (a method that runs once, so unoptimised code, which reports every local
    /// live until overwritten) the previous config's model stayed reachable through the next config's run: the 384
    /// config's peak included the 192 model before it (~1340 MiB, ~1115 alone) and later 192 rounds the 384 one's.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static StepRound MeasureOurs(CleftStepConfig config, bool first, int warmup, int steps, int forwards, out CleftStepCounts counts)
    {
        using var run = new CleftStepCase(config);
        counts = run.Counts;
        if (first) Console.WriteLine($"ours   {config}: {counts}");
        return new StepRound(run.Measure(warmup, steps, forwards), PeakRssMiB());
    }

    static void AddRound(Dictionary<int, List<StepRound>> d, int key, StepRound r)
    {
        if (!d.TryGetValue(key, out var list)) d[key] = list = [];
        list.Add(r);
    }

    static void PrintRound(string side, CleftStepConfig c, StepRound r) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{side,-6} {CleftStepName} {c.VitHidden,4}: {c.Batch / r.Times.StepSeconds,7:F2} images/s, step {r.Times.StepSeconds * 1e3:F0} ms " +
            $"(forward {r.Times.ForwardSeconds * 1e3:F0}, backward + AdamW {r.Times.BackwardSeconds * 1e3:F0}), peak RSS {r.PeakRssMiB:F0} MiB"));

    /// <summary>
    /// Times are picked per column (<paramref name="pick"/> over seconds; lower is better). RSS is the lowest round's
    /// peak. Each round's is its own on both sides: torch runs a fresh process per round, and ours returns the
    /// earlier configs' memory before each (<see cref="MeasureOurs"/>, <see cref="ResetPeakRss"/>).
    /// </summary>
    static void PrintStepTable(CleftStepConfig[] configs, Dictionary<int, List<StepRound>> ours, Dictionary<int, List<StepRound>> torch,
        Func<List<double>, double> pick)
    {
        Console.WriteLine("| config | side | steps/s | images/s | forward ms | backward + AdamW ms | peak RSS MiB (lowest round) | ours/torch (images/s) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var c in configs)
        {
            double? oursStep = null;
            foreach (var (side, table) in new[] { ("ours", ours), ("torch", torch) })
            {
                if (!table.TryGetValue(c.VitHidden, out var rs))
                {
                    Console.WriteLine($"| {c} | {side} | n/a | n/a | n/a | n/a | n/a | |");
                    continue;
                }
                double step = pick(rs.Select(r => r.Times.StepSeconds).ToList());
                double fwd = pick(rs.Select(r => r.Times.ForwardSeconds).ToList());
                double bwd = pick(rs.Select(r => r.Times.BackwardSeconds).ToList());
                double rss = rs.Min(r => r.PeakRssMiB);
                string ratio = side == "torch" && oursStep is { } o ? (step / o).ToString("F2", CultureInfo.InvariantCulture) : "";
                if (side == "ours") oursStep = step;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {c} | {side} | {1 / step:F3} | {c.Batch / step:F2} | {fwd * 1e3:F0} | {bwd * 1e3:F0} | {rss:F0} | {ratio} |"));
            }
        }
        Console.WriteLine("(ours/torch is on the torch row: our images/s over torch's; above 1 = ours faster)");
    }

    /// <summary>
    /// Returns the heap an earlier config left behind to the system (a plain collection frees it but the GC keeps
    /// it committed for reuse; the aggressive mode decommits it), then resets this process's VmHWM (Linux:
    /// clear_refs 5), so each config's peak is its own.
    /// </summary>
    static void ResetPeakRss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>VmHWM from /proc/self/status in MiB, NaN where there is none.</summary>
    static double PeakRssMiB()
    {
        try
        {
            string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line == null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { return double.NaN; }
    }
}
