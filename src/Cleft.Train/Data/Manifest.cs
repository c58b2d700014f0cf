namespace Cleft.Train.Data;

/// <summary>One image with its caption and (for classification sets) its class index, -1 when it has none.</summary>
public sealed record ManifestEntry(string ImagePath, string Caption, int Label, int SourceLine);

/// <summary>A data set as the loader sees it: entries plus the class names zero-shot prompts are built from.</summary>
public sealed class Manifest(string name, IReadOnlyList<ManifestEntry> entries, IReadOnlyList<string> classNames)
{
    public string Name { get; } = name;
    public IReadOnlyList<ManifestEntry> Entries { get; } = entries;
    public IReadOnlyList<string> ClassNames { get; } = classNames;
    public int Count => Entries.Count;

    public int[] Labels() => Entries.Select(e => e.Label).ToArray();

    public Manifest Subset(IEnumerable<int> indices, string? suffix = null) =>
        new(suffix is null ? Name : $"{Name}/{suffix}", indices.Select(i => Entries[i]).ToList(), ClassNames);

    /// <summary>The linear-probe training subset: 0.01, 0.1 or 1.0 of the entries, sampled with seed 42 (nested).</summary>
    public Manifest Fraction(double fraction, ulong seed = Splits.ProbeSeed) =>
        Subset(Splits.Fraction(Count, fraction, seed), $"{fraction * 100:0.##}%");

    /// <summary>Only the entries that have a class (for zero-shot/linear-probe evaluation).</summary>
    public Manifest Labelled() => new(Name, Entries.Where(e => e.Label >= 0).ToList(), ClassNames);

    /// <summary>Relative image paths are taken relative to the manifest's folder (or an explicit image root).</summary>
    /// <param name="file">The manifest and the line the path is on, for the error.</param>
    internal static string Resolve(string root, string path, string file, int line)
    {
        // Found by the fuzzer: Path.GetFullPath throws a bare ArgumentException for a NUL (the one character a
        // Linux path cannot hold; Windows has a few more), which named neither the manifest nor the line.
        if (path.AsSpan().IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            throw new CsvFormatException(file, line, $"image path '{path.Replace("\0", "\\0")}' holds a character that is not allowed in paths");
        return Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(root, path));
    }
}

/// <summary>Label cell parsing shared by the manifests: integers written as "1", "1.0", "-1.0"; blank = missing.</summary>
static class LabelCell
{
    public static int? Parse(CsvTable t, int line, string column, string cell)
    {
        if (cell.Length == 0) return null;
        if (double.TryParse(cell, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v)
            && v == Math.Round(v) && Math.Abs(v) < 1e6)
            return (int)v;
        throw new CsvFormatException(t.File, line, $"column '{column}': expected an integer label, got '{cell}'");
    }
}
