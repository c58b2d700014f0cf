namespace Cleft.Train.Data;

public enum EmbedTask { Birads, Density }

/// <summary>
/// EMBED-style mammography manifests (our own export format: EMBED itself is DICOM plus metadata tables).
/// Columns: <c>path</c>, <c>side</c> (L/R/B or left/right/bilateral), <c>view</c> (ViewPosition, e.g. CC, MLO),
/// <c>density</c> (1-4), <c>birads</c> (0-6). Caption follows CLEFT's template exactly (docs/RECIPE.md §data).
/// </summary>
public static class EmbedManifest
{
    public const string CaptionPrefix = "This is a breast 2D full-field digital mammogram of a patient";

    /// <summary>BI-RADS density categories a-d, numbered 1-4.</summary>
    public static readonly string[] DensityDescriptions =
    [
        "the breasts are almost entirely fatty", "scattered areas of fibroglandular density",
        "heterogeneously dense", "extremely dense",
    ];

    /// <summary>BI-RADS assessment categories 0-6.</summary>
    public static readonly string[] BiradsDescriptions =
    [
        "additional imaging required", "negative", "benign finding", "probably benign",
        "suspicious abnormality", "highly suggestive of malignancy", "known biopsy proven malignancy",
    ];

    public static string Side(string cell) => cell.Trim().ToLowerInvariant() switch
    {
        "l" or "left" => "left",
        "r" or "right" => "right",
        "b" or "bilateral" => "bilateral",
        _ => throw new ArgumentException($"side must be L, R or B (or left/right/bilateral), got '{cell}'"),
    };

    public static string Caption(string side, string view, int density, int birads) =>
        $"{CaptionPrefix} on side {side} with view {view} with breast tissue density {density}:{DensityDescriptions[density - 1]}. " +
        $"with BIRADS score {birads}:{BiradsDescriptions[birads]}.";

    public static Manifest Load(string csvPath, EmbedTask task, string? imageRoot = null)
    {
        var t = CsvTable.Load(csvPath);
        string root = imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        int pathCol = t.Column("path"), sideCol = t.Column("side"), viewCol = t.Column("view"),
            densCol = t.Column("density"), biradsCol = t.Column("birads");
        var entries = new List<ManifestEntry>(t.Rows.Count);
        foreach (var (line, f) in t.Rows)
        {
            if (f[pathCol].Length == 0) throw new CsvFormatException(t.File, line, "empty path");
            string side;
            try { side = Side(f[sideCol]); }
            catch (ArgumentException e) { throw new CsvFormatException(t.File, line, e.Message); }
            int? density = LabelCell.Parse(t, line, "density", f[densCol]);
            int? birads = LabelCell.Parse(t, line, "birads", f[biradsCol]);
            if (density is not (>= 1 and <= 4)) throw new CsvFormatException(t.File, line, $"density must be 1-4, got '{f[densCol]}'");
            if (birads is not (>= 0 and <= 6)) throw new CsvFormatException(t.File, line, $"birads must be 0-6, got '{f[biradsCol]}'");
            int label = task == EmbedTask.Birads ? birads.Value : density.Value - 1;
            entries.Add(new ManifestEntry(Manifest.Resolve(root, f[pathCol], t.File, line), Caption(side, f[viewCol], density.Value, birads.Value), label, line));
        }
        var classes = task == EmbedTask.Birads
            ? Enumerable.Range(0, 7).Select(k => $"BIRADS {k}").ToArray()
            : Enumerable.Range(1, 4).Select(k => $"density {k}").ToArray();
        return new Manifest(Path.GetFileName(t.File), entries, classes);
    }
}
