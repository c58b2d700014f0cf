using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

/// <summary>One timed call of our engine and the work it does.</summary>
public sealed record Workload(Action Run, double Flops);

/// <summary>
/// A named comparison: <see cref="Ours"/> builds our workload for a size, <see cref="TorchCase"/> names the
/// matching function in benchmarks/torch_gemm.py (its CASES table). To add an op (attention, contrastive
/// loss, ...): add a case here and a function of the same name there. <see cref="Accepts"/>, when set, says which
/// sizes the case has (the step-shape GEMMs exist only at the cleft-step configs); other sizes are skipped.
/// </summary>
public sealed record BenchCase(string Name, string TorchCase, string Description, Func<int, Workload> Ours, Func<int, bool>? Accepts = null)
{
    public int[] SizesOf(int[] sizes) => Accepts is null ? sizes : sizes.Where(Accepts).ToArray();
}

/// <summary>
/// What `side-by-side` measures and how (the options are declared in <see cref="SideBySideCommand"/>).
/// </summary>
/// <param name="CaseNames">Names from <see cref="SideBySide.CaseNames"/>; null: every case but cleft-step, which runs
/// only when named, after the others.</param>
/// <param name="Sizes">Null: <see cref="SideBySide.DefaultSizes"/> for the flop cases, the ViT widths of
/// <see cref="CleftStepConfig.All"/> for cleft-step.</param>
/// <param name="MinSeconds">Each measurement repeats for at least this long; its median counts.</param>
/// <param name="Script">benchmarks/torch_gemm.py; null: searched for.</param>
/// <param name="CoreType">OPENBLAS_CORETYPE for torch, for CPUs that OpenBLAS does not recognise (it then falls
/// back to a slow generic kernel; see PERFORMANCE.md).</param>
/// <param name="Warmup">cleft-step: warm-up steps per round and side.</param>
/// <param name="Steps">cleft-step: timed steps per round and side.</param>
public sealed record SideBySideOptions(string[]? CaseNames, int[]? Sizes, int Rounds, double MinSeconds, string Python, string? Script,
    string? CoreType, int Warmup, int Steps);

/// <summary>
/// Ours vs PyTorch in one run: in each round, times every case at every size in our engine (JIT warmed,
/// median of repeats), then launches the torch script once per case for the same sizes; prints tables.
/// The cleft-step case (whole training step, SideBySide.CleftStep.cs) runs only when named, after the others.
/// </summary>
public static partial class SideBySide
{
    public static readonly BenchCase[] Cases =
    [
        new("gemm", "gemm", "C = A B, square fp32, row-major", n =>
        {
            var a = Data.Uniform((long)n * n, 1);
            var b = Data.Uniform((long)n * n, 2);
            var c = new float[(long)n * n];
            var s = GemmShape.Contiguous(1, n, n, n);
            return new Workload(() => CpuGemm.Multiply(a, b, c, s), s.Flops);
        }),
        new("contrastive", "contrastive", "CLIP loss fwd+bwd, batch = size, dim 512 (normalise, InfoNCE both ways, learnable scale)",
            ContrastiveCase.Build),
        .. AttentionCases(),
        .. StepGemmCases(),
    ];

    public static readonly int[] DefaultSizes = [256, 512, 1024, 2048];

    /// <summary>Every case --cases accepts: the flop cases, then the whole training step.</summary>
    public static IEnumerable<string> CaseNames => Cases.Select(c => c.Name).Append(CleftStepName);

    public static int Run(SideBySideOptions options)
    {
        string[] caseNames = options.CaseNames ?? Cases.Select(c => c.Name).ToArray();
        var cases = caseNames.Where(n => n != CleftStepName).Select(n => Cases.First(c => c.Name == n)).ToList();
        bool cleftStep = caseNames.Contains(CleftStepName);
        int threads = Environment.ProcessorCount;
        PrintMachine(threads);
        var torchRun = new TorchLauncher(options.Python, options.Script ?? FindScript(), threads, options.CoreType);
        int status = cases.Count > 0 ? RunFlopCases(cases, options.Sizes ?? DefaultSizes, options.Rounds, options.MinSeconds, torchRun) : 0;
        if (!cleftStep || status != 0) return status;
        if (cases.Count > 0) Console.WriteLine();
        return RunCleftStep(options.Sizes ?? CleftStepConfig.All.Select(c => c.VitHidden).ToArray(), options.Rounds, options.Warmup, options.Steps, torchRun);
    }

    static int RunFlopCases(List<BenchCase> cases, int[] sizes, int rounds, double minSeconds, TorchLauncher torchRun)
    {
        // Rounds alternate ours and torch so both sides see the same background load (shared machines:
        // other builds steal cores). Each round records a median per size.
        var ours = new Dictionary<(string, int), List<double>>();
        var torch = new Dictionary<(string, int), List<double>>();
        string? torchInfo = null, torchError = null;
        for (int round = 1; round <= rounds; round++)
        {
            Console.WriteLine($"-- round {round} of {rounds}");
            foreach (var bc in cases)
            {
                var caseSizes = bc.SizesOf(sizes);
                if (caseSizes.Length == 0) { Console.WriteLine($"ours   {bc.Name}: none of the sizes {string.Join(",", sizes)} applies"); continue; }
                foreach (int n in caseSizes)
                {
                    var w = bc.Ours(n);
                    double sec = MedianSeconds(w.Run, minSeconds);
                    Add(ours, (bc.Name, n), w.Flops / sec / 1e9);
                    Console.WriteLine($"ours   {bc.Name,-10} {n,6}: {w.Flops / sec / 1e9,8:F1} GFLOP/s ({sec * 1e3:F3} ms)");
                }
                if (torchError != null) continue;
                var result = RunTorch(torchRun, bc.TorchCase, caseSizes, minSeconds, round == 1, out torchError);
                if (result == null) { Console.WriteLine($"torch  {bc.Name}: not measured: {torchError}"); continue; }
                torchInfo ??= result.Value.Info;
                foreach (var (n, gflops) in result.Value.Gflops)
                {
                    Add(torch, (bc.Name, n), gflops);
                    Console.WriteLine($"torch  {bc.Name,-10} {n,6}: {gflops,8:F1} GFLOP/s");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(torchInfo ?? $"torch: not measured ({torchError})");
        if (rounds > 1)
        {
            Console.WriteLine();
            Console.WriteLine($"Best of {rounds} rounds (each round: median of repeats; the least-disturbed round per side):");
            PrintTable(cases, sizes, ours, torch, l => l.Max());
            Console.WriteLine();
            Console.WriteLine($"Median of {rounds} rounds:");
        }
        Console.WriteLine();
        PrintTable(cases, sizes, ours, torch, Median);
        if (rounds > 1 && torch.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Paired by round (each torch measurement taken right after ours in the same round, so both saw the");
            Console.WriteLine("same phase of a shared VM's speed; their ratio varies less than either side's rate):");
            PrintPairedRatios(cases, sizes, ours, torch);
        }
        return 0;
    }

    static void PrintPairedRatios(List<BenchCase> cases, int[] sizes, Dictionary<(string, int), List<double>> ours,
        Dictionary<(string, int), List<double>> torch)
    {
        Console.WriteLine("| case | size | ours/torch by round | median |");
        Console.WriteLine("|---|---:|---|---:|");
        foreach (var bc in cases)
            foreach (int n in bc.SizesOf(sizes))
            {
                if (!torch.TryGetValue((bc.Name, n), out var tl) || tl.Count != ours[(bc.Name, n)].Count) continue;
                var ratios = ours[(bc.Name, n)].Zip(tl, (o, t) => o / t).ToList();
                Console.WriteLine($"| {bc.Name} | {n} | {string.Join(", ", ratios.Select(r => r.ToString("F2")))} | {Median(ratios):F2} |");
            }
    }

    static void Add(Dictionary<(string, int), List<double>> d, (string, int) key, double v)
    {
        if (!d.TryGetValue(key, out var list)) d[key] = list = [];
        list.Add(v);
    }

    static double Median(List<double> l)
    {
        var s = l.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : 0.5 * (s[s.Count / 2 - 1] + s[s.Count / 2]);
    }

    static void PrintTable(List<BenchCase> cases, int[] sizes, Dictionary<(string, int), List<double>> ours,
        Dictionary<(string, int), List<double>> torch, Func<List<double>, double> pick)
    {
        Console.WriteLine("| case | size | ours GFLOP/s | torch GFLOP/s | ours/torch |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var bc in cases)
            foreach (int n in bc.SizesOf(sizes))
            {
                double o = pick(ours[(bc.Name, n)]);
                bool has = torch.TryGetValue((bc.Name, n), out var tl);
                string t = has ? pick(tl!).ToString("F1") : "n/a";
                string r = has ? (o / pick(tl!)).ToString("F2") : "n/a";
                Console.WriteLine($"| {bc.Name} | {n} | {o:F1} | {t} | {r} |");
            }
    }

    static void PrintMachine(int threads)
    {
        string cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        string simd = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512 (Vector512)"
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2 (Vector256)" : "no 256-bit SIMD";
        Console.WriteLine($"machine: {cpu}, {threads} cores, {RuntimeInformation.FrameworkDescription}, {simd}");
        Console.WriteLine(GemmBlocking());
        Console.WriteLine($"threads: ours {threads} (CpuParallel), torch {threads} (set_num_threads, OPENBLAS_NUM_THREADS)");
    }

    /// <summary>Our GEMM's blocking on this machine, one line: which configuration a measurement is of.</summary>
    internal static string GemmBlocking()
    {
        var (mr, nr, kc, mc, nc) = CpuGemm.Blocking;
        return $"ours GEMM: {mr}x{nr} micro-tiles, k block {kc}, row block {mc}, column block {nc}";
    }

    /// <summary>Median wall time of one call after warming the JIT (tiered code and OSR settle in the first calls).</summary>
    public static double MedianSeconds(Action run, double minSeconds)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 5 || warm.Elapsed.TotalSeconds < Math.Min(0.5, minSeconds); i++) run();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 7 || (total.Elapsed.TotalSeconds < minSeconds && times.Count < 1000))
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    readonly record struct TorchResult(string Info, List<(int Size, double Gflops)> Gflops);

    static TorchResult? RunTorch(TorchLauncher torchRun, string torchCase, int[] sizes, double minSeconds, bool verbose, out string? error)
    {
        string? stdout = torchRun.Run(torchRun.Script, ["--cases", torchCase, "--sizes", string.Join(",", sizes), "--threads", torchRun.Threads.ToString(),
            "--min-seconds", minSeconds.ToString(CultureInfo.InvariantCulture)], verbose, out error, out _);
        if (stdout == null) return null;
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            string info = $"torch {root.GetProperty("torch").GetString()} on {root.GetProperty("threads").GetInt32()} threads, BLAS: {root.GetProperty("blas").GetString()}";
            var list = root.GetProperty("results").EnumerateArray()
                .Select(r => (r.GetProperty("size").GetInt32(), r.GetProperty("gflops").GetDouble())).ToList();
            return new TorchResult(info, list);
        }
        catch (JsonException e)
        {
            error = $"could not read the torch script's output ({e.Message}): {Tail(stdout)}";
            return null;
        }
    }

    internal static string Tail(string s) => s.Length <= 400 ? s : "..." + s[^400..];

    /// <summary>benchmarks/torch_gemm.py: searched upward from the working directory, then next to this source file.</summary>
    static string? FindScript()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "benchmarks", "torch_gemm.py");
            if (File.Exists(candidate)) return candidate;
        }
        string besideSource = Path.GetFullPath(Path.Combine(SourceDirectory(), "..", "torch_gemm.py"));
        return File.Exists(besideSource) ? besideSource : null;
    }

    static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path) ?? ".";
}

/// <summary>
/// Starts torch scripts: <see cref="Python"/> on <see cref="Threads"/> threads; <see cref="Script"/> is
/// torch_gemm.py (the other scripts sit beside it); <see cref="CoreType"/>, when set, becomes OPENBLAS_CORETYPE.
/// </summary>
sealed record TorchLauncher(string Python, string? Script, int Threads, string? CoreType)
{
    // The torch subprocess must not inherit these: set on our machines, they make OpenBLAS pick a slower
    // core type / blocking (docs/RECIPE.md §measured). An explicit --openblas-coretype still applies.
    static readonly string[] UnsetForTorch = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    /// <summary>A script in the same directory as <see cref="Script"/>, or null when that is unknown.</summary>
    public string? Sibling(string fileName) => Script == null ? null : Path.Combine(Path.GetDirectoryName(Script)!, fileName);

    /// <summary>Runs <paramref name="script"/> and returns its stdout, or null with <paramref name="error"/> (and the exit
    /// code, -1 when it never started) when it could not run or failed.</summary>
    public string? Run(string? script, string[] args, bool verbose, out string? error, out int exitCode)
    {
        error = null;
        exitCode = -1;
        if (!File.Exists(Python)) { error = $"{Python} not found (Debian python3 with python3-torch is needed for the comparison)"; return null; }
        if (script == null || !File.Exists(script)) { error = $"{script ?? "benchmarks/torch_gemm.py"} not found (run from the repository or pass --script)"; return null; }
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var name in UnsetForTorch)
        {
            string? value = Environment.GetEnvironmentVariable(name);
            if (value != null && verbose) Console.WriteLine($"torch: unsetting {name}={value} for the torch subprocess");
            psi.Environment.Remove(name);
        }
        if (CoreType != null) psi.Environment["OPENBLAS_CORETYPE"] = CoreType;
        psi.Environment["OPENBLAS_NUM_THREADS"] = Threads.ToString(CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        exitCode = p.ExitCode;
        if (p.ExitCode == 0) return stdout;
        string msg = stderr.Result.Trim();
        error = msg.Contains("No module named 'torch'") ? $"PyTorch is not installed for {Python} (apt-get install python3-torch)"
            : $"{Python} {Path.GetFileName(script)} exited with {p.ExitCode}: {SideBySide.Tail(msg)}";
        return null;
    }
}
