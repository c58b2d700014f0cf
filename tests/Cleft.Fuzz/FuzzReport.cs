using System.Globalization;
using System.Text;

namespace Cleft.Fuzz;

/// <summary>The one table CI prints: per format the cases run, outcomes by type, worst time, worst allocation ratio, failures.</summary>
public static class FuzzReport
{
    public static string Table(IReadOnlyList<FormatResult> results, ulong seed)
    {
        var rows = new List<string[]> { new[] { "format", "cases", "worst ms (case)", "worst alloc/size (bytes)", "alloc/bound", "memory bound", "failures", "outcomes" } };
        foreach (var r in results)
            rows.Add(
            [
                r.Format, r.Cases.ToString(CultureInfo.InvariantCulture), Invariant($"{r.WorstMs:0.0} ({r.WorstMsCase})"),
                Invariant($"{r.WorstRatio:0}x ({Bytes(r.WorstBytes)})"), Invariant($"{r.WorstOfBound:P0}"), r.MemoryRule, r.Failures.Count.ToString(CultureInfo.InvariantCulture),
                string.Join(", ", r.Outcomes.Select(o => $"{o.Key} {o.Value}")),
            ]);
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(Invariant($"fuzz: seed {seed}, {results.Sum(r => r.Cases)} cases, {results.Sum(r => r.Failures.Count)} failures; limits {FuzzRunner.CaseLimit.TotalSeconds:0} s per case (images: + {FuzzFormat.NanosecondsPerPixel:0} ns per declared pixel), hang at {FuzzRunner.HangLimit.TotalSeconds:0} s"));
        foreach (var row in rows)
            sb.AppendLine(string.Join("  ", row.Select((cell, c) => c == 1 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd());
        foreach (var f in results.SelectMany(r => r.Failures)) sb.AppendLine("FAIL " + f);
        return sb.ToString();
    }

    static string Bytes(long b) => b >= 1 << 20 ? Invariant($"{b / 1048576.0:0.0} MB") : b >= 1024 ? Invariant($"{b / 1024.0:0.0} KB") : Invariant($"{b} B");

    static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
