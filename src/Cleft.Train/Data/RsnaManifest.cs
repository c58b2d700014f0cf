namespace Cleft.Train.Data;

/// <summary>
/// RSNA pneumonia: columns <c>patientId</c> and <c>Target</c> (0/1). The challenge CSV has one row per box,
/// so a patient may appear several times; rows are merged (conflicting Targets are an error). The originals are
/// DICOM, which we do not decode: images are expected as <c>{imageRoot}/{patientId}{extension}</c> (PNG/JPEG).
/// Captions are the class prompts, so the same set can train or evaluate.
/// </summary>
public static class RsnaManifest
{
    public static readonly string[] Classes = ["No Findings", "Pneumonia"];

    public static Manifest Load(string csvPath, string? imageRoot = null, string extension = ".png")
    {
        var t = CsvTable.Load(csvPath);
        string root = imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        int idCol = t.Column("patientId"), targetCol = t.Column("Target");
        var byId = new Dictionary<string, (int Target, int Line)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (line, f) in t.Rows)
        {
            string id = f[idCol];
            if (id.Length == 0) throw new CsvFormatException(t.File, line, "empty patientId");
            int? target = LabelCell.Parse(t, line, "Target", f[targetCol]);
            if (target is not (0 or 1)) throw new CsvFormatException(t.File, line, $"Target must be 0 or 1, got '{f[targetCol]}'");
            if (byId.TryGetValue(id, out var seen))
            {
                if (seen.Target != target) throw new CsvFormatException(t.File, line, $"patient {id} has Target {target} here but {seen.Target} on line {seen.Line}");
                continue;
            }
            byId[id] = (target.Value, line);
            order.Add(id);
        }
        var prompts = ZeroShotPrompts.Rsna();
        var entries = order.Select(id => new ManifestEntry(Manifest.Resolve(root, id + extension, t.File, byId[id].Line), prompts[byId[id].Target], byId[id].Target, byId[id].Line)).ToList();
        return new Manifest(Path.GetFileName(t.File), entries, Classes);
    }
}
