namespace Cleft.Train.Data;

/// <summary>
/// How CheXpert's uncertain label (-1) counts. CLEFT builds captions from "1 = positive" only, so the default
/// is <see cref="AsNegative"/> (the "U-Zeros" policy); blank cells (not mentioned) are always negative.
/// </summary>
public enum UncertainPolicy { AsNegative, AsPositive }

/// <summary>
/// CheXpert-style manifests: columns <c>Path</c>, <c>AP/PA</c> (optional; kept for filtering by view elsewhere)
/// and the 14 CheXbert label columns with values 1, 0, -1 or blank.
/// </summary>
public static class ChexpertManifest
{
    public const string CaptionPrefix = "this is a chest x ray of a patient with ";

    /// <summary>The 14 CheXbert observations, in the order of the CheXpert CSV.</summary>
    public static readonly string[] Findings =
    [
        "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
        "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
        "Fracture", "Support Devices",
    ];

    /// <summary>CheXpert 5x200 classes, in CLEFT's order; an image's label is the first of these it has.</summary>
    public static readonly string[] FiveClasses = ["Atelectasis", "Edema", "Cardiomegaly", "Pleural Effusion", "Consolidation"];

    /// <summary>"Pleural Effusion" -> "pleural effusion": lowercase, letters and digits only, single spaces.</summary>
    public static string FindingWords(string name)
    {
        var words = new string(name.Select(ch => char.IsLetterOrDigit(ch) ? char.ToLowerInvariant(ch) : ' ').ToArray())
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(' ', words);
    }

    /// <summary>
    /// Caption = prefix + the positive finding names (words only) in CSV column order, joined by ", ".
    /// With no positive finding at all the caption says "no finding" (CheXpert's own name for that case).
    /// </summary>
    public static string Caption(IEnumerable<string> positiveFindings)
    {
        var names = positiveFindings.Select(FindingWords).ToList();
        return CaptionPrefix + (names.Count == 0 ? "no finding" : string.Join(", ", names));
    }

    /// <summary>5x200 class index: first positive in <see cref="FiveClasses"/> order, or -1.</summary>
    public static int FiveClassLabel(IReadOnlySet<string> positives)
    {
        for (int i = 0; i < FiveClasses.Length; i++) if (positives.Contains(FiveClasses[i])) return i;
        return -1;
    }

    /// <param name="imageRoot">Folder the <c>Path</c> column is relative to (default: the CSV's folder).</param>
    public static Manifest Load(string csvPath, string? imageRoot = null, UncertainPolicy uncertain = UncertainPolicy.AsNegative)
    {
        var t = CsvTable.Load(csvPath);
        return FromTable(t, imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(csvPath))!, uncertain);
    }

    public static Manifest FromTable(CsvTable t, string imageRoot, UncertainPolicy uncertain = UncertainPolicy.AsNegative)
    {
        int pathCol = t.Column("Path");
        var cols = Findings.Select(f => (Name: f, Index: t.Column(f))).ToArray();
        var entries = new List<ManifestEntry>(t.Rows.Count);
        foreach (var (line, f) in t.Rows)
        {
            if (f[pathCol].Length == 0) throw new CsvFormatException(t.File, line, "empty Path");
            var positives = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, index) in cols)
            {
                int? v = LabelCell.Parse(t, line, name, f[index]);
                if (v is not (null or 1 or 0 or -1)) throw new CsvFormatException(t.File, line, $"column '{name}': expected 1, 0, -1 or blank, got '{f[index]}'");
                if (v == 1 || (v == -1 && uncertain == UncertainPolicy.AsPositive)) positives.Add(name);
            }
            entries.Add(new ManifestEntry(Manifest.Resolve(imageRoot, f[pathCol], t.File, line),
                Caption(Findings.Where(positives.Contains)), FiveClassLabel(positives), line));
        }
        return new Manifest(Path.GetFileName(t.File), entries, FiveClasses);
    }
}
