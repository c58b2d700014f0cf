using System.Diagnostics;

namespace Cleft.Fuzz;

/// <summary>What a format's batch did: outcomes by kind, the worst time and allocation, and every failure.</summary>
public sealed class FormatResult
{
    public string Format { get; set; } = "";
    public int Cases { get; set; }
    /// <summary>"ok", a documented exception's type name, or the reader's own outcome ("exit 2"), with counts.</summary>
    public SortedDictionary<string, int> Outcomes { get; set; } = new(StringComparer.Ordinal);
    public double WorstMs { get; set; }
    public int WorstMsCase { get; set; }
    /// <summary>Largest allocation of a case divided by its input's size.</summary>
    public double WorstRatio { get; set; }
    public long WorstBytes { get; set; }
    /// <summary>Largest allocation of a case divided by that case's bound (1 = at the bound).</summary>
    public double WorstOfBound { get; set; }
    public string MemoryRule { get; set; } = "";
    /// <summary>Undocumented exceptions, slow cases, allocations over the bound, failing seeds; each names its case.</summary>
    public List<string> Failures { get; set; } = [];
}

/// <summary>
/// Runs a format's cases on this thread. Each case is timed and its allocation measured with
/// GC.GetAllocatedBytesForCurrentThread (every byte the readers allocate on the calling thread, which bounds the
/// peak managed memory the case can have held). A watchdog ends the process when a case runs past
/// <see cref="HangLimit"/>, so a hang is reported with its case instead of stalling the run.
/// </summary>
public static class FuzzRunner
{
    /// <summary>A case slower than this (plus its declared pixels' allowance) is a failure; real files take milliseconds.</summary>
    public static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(2);
    /// <summary>
    /// A case still running after this is a hang: the process reports it and exits with code 3. Above the longest
    /// time limit (2 s + 100 MP x 200 ns).
    /// </summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);
    public const int HangExitCode = 3;

    /// <summary>Case i: the unmutated seed i for the first Seeds.Count cases, then a mutant of seed i mod Seeds.Count.</summary>
    public static (int SeedIndex, byte[] Input) Case(FuzzFormat f, ulong baseSeed, int i)
    {
        int s = i % f.Seeds.Count;
        if (i < f.Seeds.Count) return (s, f.Seeds[s]);
        ulong caseSeed = SplitMix(baseSeed ^ NameHash(f.Name) ^ SplitMix((ulong)i));
        return (s, f.Mutate?.Invoke(f.Seeds[s], f.Seeds, caseSeed) ?? Mutator.Mutate(f.Seeds[s], f.Seeds, caseSeed, f.Text));
    }

    /// <param name="only">Run only this case (to reproduce a failure), or null for cases 0..count-1.</param>
    /// <param name="failureDir">Where the input of each failing case is saved (as FORMAT-CASE.bin).</param>
    public static FormatResult Run(FuzzFormat f, int count, ulong baseSeed, string failureDir, int? only = null, TextWriter? progress = null)
    {
        var result = new FormatResult { Format = f.Name, MemoryRule = f.MemoryRule };
        long started = 0;
        int current = -1;
        byte[] currentInput = [];
        var watchdog = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(100);
                long s = Volatile.Read(ref started);
                if (s == 0 || Stopwatch.GetElapsedTime(s) < HangLimit) continue;
                string saved = Save(failureDir, f.Name, current, currentInput);
                progress?.WriteLine($"HANG {f.Name} case {current} ran over {HangLimit.TotalSeconds:0} s; input saved to {saved}");
                progress?.Flush();
                Environment.Exit(HangExitCode);
            }
        }) { IsBackground = true, Name = "fuzz watchdog" };
        watchdog.Start();

        for (int i = only ?? 0; i < (only is { } o ? o + 1 : count); i++)
        {
            var (seedIndex, input) = Case(f, baseSeed, i);
            current = i;
            currentInput = input;
            progress?.WriteLine($"CASE {i}");
            string outcome;
            Exception? bug = null;
            long before = GC.GetAllocatedBytesForCurrentThread();
            Volatile.Write(ref started, Stopwatch.GetTimestamp());
            try { outcome = f.Run(input, seedIndex); }
            catch (Exception e) when (f.Documented.Any(t => t.IsInstanceOfType(e))) { outcome = e.GetType().Name; }
            catch (Exception e) { outcome = "undocumented " + e.GetType().Name; bug = e; }
            double ms = Stopwatch.GetElapsedTime(Volatile.Read(ref started)).TotalMilliseconds;
            Volatile.Write(ref started, 0);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            result.Cases++;
            result.Outcomes[outcome] = result.Outcomes.GetValueOrDefault(outcome) + 1;
            if (ms > result.WorstMs) (result.WorstMs, result.WorstMsCase) = (ms, i);
            double ratio = allocated / (double)Math.Max(input.Length, 1);
            if (ratio > result.WorstRatio) (result.WorstRatio, result.WorstBytes) = (ratio, allocated);
            long bound = f.MemoryBound(input);
            result.WorstOfBound = Math.Max(result.WorstOfBound, allocated / (double)bound);
            var timeLimit = f.TimeLimit(input);

            string? failure = null;
            if (bug is not null) failure = $"{bug.GetType().Name}: {bug.Message}\n{bug.StackTrace}";
            else if (i < f.Seeds.Count && outcome != "ok") failure = $"the unmutated seed {i} does not read: {outcome}";
            else if (ms > timeLimit.TotalMilliseconds) failure = $"took {ms:0} ms, over its {timeLimit.TotalMilliseconds:0} ms limit";
            else if (allocated > bound) failure = $"allocated {allocated} bytes for a {input.Length}-byte input, over the bound {bound} ({f.MemoryRule})";
            if (failure is not null)
                result.Failures.Add($"{f.Name} case {i} (input saved to {Save(failureDir, f.Name, i, input)}): {failure}");
        }
        return result;
    }

    static string Save(string dir, string format, int i, byte[] input)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{format}-{i}.bin");
        File.WriteAllBytes(path, input);
        return path;
    }

    static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>FNV-1a: string.GetHashCode is randomised per process, and a case must be the same in every run.</summary>
    static ulong NameHash(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in s) h = (h ^ c) * 0x100000001B3UL;
        return h;
    }
}
