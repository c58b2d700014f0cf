using System.Globalization;

namespace Cleft.Train.Data;

/// <summary>Which columns of a generic manifest hold what (names matched case-insensitively).</summary>
/// <param name="Label">Class name or class index; null when the command needs no labels.</param>
public sealed record ManifestColumns(string Image = "Path", string Caption = "caption", string? Label = null);

/// <summary>Every problem found in a manifest, reported together before any work starts.</summary>
public sealed class ManifestException(string file, IReadOnlyList<string> problems)
    : Exception(Format(file, problems))
{
    public string File { get; } = file;
    public IReadOnlyList<string> Problems { get; } = problems;

    const int Shown = 20;
    static string Format(string file, IReadOnlyList<string> problems) =>
        $"{file}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")}:\n" + string.Join("\n", problems.Take(Shown).Select(p => "  " + p))
        + (problems.Count > Shown ? $"\n  ... and {problems.Count - Shown} more" : "");
}

/// <summary>
/// A generic data set: one CSV row per image, image paths relative to the CSV's folder, a caption column for
/// pretraining and a label column (class name, case-insensitive, or class index) for classification. Missing
/// columns, blank cells, missing image files and unknown labels are all collected and thrown together as one
/// <see cref="ManifestException"/>, so a user fixes the file once instead of once per error.
/// </summary>
public static class CsvManifest
{
    /// <summary>Integer labels (class indices without --classes) must be below this: far more classes than any medical task has.</summary>
    public const int MaxIntegerClasses = 10_000;

    /// <param name="classNames">Class order for labels; null = the distinct label values, sorted (numerically when all are integers).</param>
    /// <param name="needCaptions">The caption column must exist and no caption may be blank (pretraining, retrieval).</param>
    /// <param name="checkFiles">Check that every image file exists.</param>
    public static Manifest Load(string csvPath, ManifestColumns columns, IReadOnlyList<string>? classNames = null,
        bool needCaptions = true, bool checkFiles = true, string? imageRoot = null)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var t = CsvTable.Load(csvPath);
        imageRoot ??= Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        var problems = new List<string>();
        int Find(string? name, bool required)
        {
            if (name is null) return -1;
            int i = Array.FindIndex(t.Header, h => string.Equals(h.Trim(), name, StringComparison.OrdinalIgnoreCase));
            if (i < 0 && required) problems.Add($"missing column '{name}' (columns: {string.Join(", ", t.Header)})");
            return i;
        }
        int imageCol = Find(columns.Image, true), captionCol = Find(columns.Caption, needCaptions), labelCol = Find(columns.Label, columns.Label is not null);
        if (problems.Count > 0) throw new ManifestException(t.File, problems);
        if (t.Rows.Count == 0) throw new ManifestException(t.File, ["no data rows"]);

        var classes = classNames ?? (labelCol >= 0 ? DistinctLabels(t, labelCol) : []);
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int k = 0; k < classes.Count; k++)
            if (!byName.TryAdd(classes[k].Trim(), k)) problems.Add($"class '{classes[k]}' is listed twice");

        var entries = new List<ManifestEntry>(t.Rows.Count);
        foreach (var (line, f) in t.Rows)
        {
            string image = f[imageCol].Trim();
            string path = "";
            if (image.Length == 0) problems.Add($"line {line}: empty image path in column '{t.Header[imageCol]}'");
            else
            {
                path = Manifest.Resolve(imageRoot, image, t.File, line);
                if (checkFiles && !File.Exists(path)) problems.Add($"line {line}: image not found: {path}");
            }
            string caption = captionCol >= 0 ? f[captionCol].Trim() : "";
            if (needCaptions && caption.Length == 0) problems.Add($"line {line}: empty caption");
            int label = -1;
            if (labelCol >= 0)
            {
                string cell = f[labelCol].Trim();
                if (cell.Length == 0) problems.Add($"line {line}: empty label");
                else if (byName.TryGetValue(cell, out int k)) label = k;
                else if (int.TryParse(cell, NumberStyles.Integer, CultureInfo.InvariantCulture, out int idx) && idx >= 0 && idx < classes.Count) label = idx;
                else problems.Add($"line {line}: unknown label '{cell}' (classes: {string.Join(", ", classes)})");
            }
            entries.Add(new ManifestEntry(path, caption, label, line));
        }
        if (problems.Count > 0) throw new ManifestException(t.File, problems);
        return new Manifest(Path.GetFileName(t.File), entries, classes);
    }

    static List<string> DistinctLabels(CsvTable t, int col)
    {
        var values = t.Rows.Select(r => r.Fields[col].Trim()).Where(v => v.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        bool numeric = values.All(v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _));
        if (numeric)
        {
            // Integer labels name their own index, so the class list runs 0..max with no gaps; a negative label
            // names no class (reported as unknown by the caller) and adds none.
            int max = Math.Max(values.Select(v => int.Parse(v, CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max(), -1);
            // Found by the fuzzer: one stray digit made a label of 21474838 and 0..max took gigabytes to list.
            if (max >= MaxIntegerClasses)
                throw new ManifestException(t.File, [$"label {max} in column '{t.Header[col]}' is over the {MaxIntegerClasses}-class limit for integer labels " +
                    "(an id column, or a typo? give the class names with --classes)"]);
            return Enumerable.Range(0, max + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
        }
        values.Sort(StringComparer.OrdinalIgnoreCase);
        return values;
    }

    /// <summary>Class names from "A,B,C" or from a file with one name per line (blank lines and # comments skipped).</summary>
    public static string[] ParseClasses(string listOrFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(listOrFile);
        var names = File.Exists(listOrFile)
            ? File.ReadAllLines(listOrFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray()
            : listOrFile.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length < 2) throw new ArgumentException($"--classes: need at least 2 class names, got {names.Length} from '{listOrFile}'");
        return names;
    }
}
