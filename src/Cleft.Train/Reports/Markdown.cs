using System.Globalization;
using System.Text;

namespace Cleft.Train.Reports;

/// <summary>Small helpers shared by the metric reports' ToMarkdown/ToJson, so every report formats alike.</summary>
public static class Markdown
{
    /// <summary>A GitHub-flavoured table; '|' in cells is escaped so a class name cannot break the layout.</summary>
    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var sb = new StringBuilder();
        Row(sb, header);
        sb.Append('|');
        foreach (var _ in header) sb.Append("---|");
        sb.AppendLine();
        foreach (var r in rows)
        {
            if (r.Count != header.Count) throw new ArgumentException($"table row has {r.Count} cells for {header.Count} columns");
            Row(sb, r);
        }
        return sb.ToString();
    }

    static void Row(StringBuilder sb, IReadOnlyList<string> cells)
    {
        sb.Append('|');
        foreach (string c in cells) sb.Append(' ').Append(c.Replace("|", "\\|")).Append(" |");
        sb.AppendLine();
    }

    /// <summary>Four decimals, invariant culture; "n/a" for NaN (an undefined metric, e.g. AUC of an absent class).</summary>
    public static string Number(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F4", CultureInfo.InvariantCulture);

    public static string Integer(long v) => v.ToString(CultureInfo.InvariantCulture);
}

public static class JsonValues
{
    /// <summary>
    /// A double for System.Text.Json, which refuses NaN and infinities by default: those become JSON null
    /// (an undefined metric). The return type is non-nullable only so the value fits the reports'
    /// Dictionary&lt;string, object&gt;; System.Text.Json writes the null as null.
    /// </summary>
    public static object Number(double v) => double.IsFinite(v) ? v : null!;
}
