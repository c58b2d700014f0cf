namespace Cleft.Train.Data;

public enum ManifestFormat { Generic, Chexpert, Rsna, Embed }

/// <summary>
/// How the console reads a manifest: its format (a generic CSV, or one of the CheXpert / RSNA / EMBED readers),
/// the generic format's columns, the class list, and the image root. One place turns these into a
/// <see cref="Manifest"/>, so every command reads data the same way.
/// </summary>
public sealed record DataSource(ManifestFormat Format = ManifestFormat.Generic, string ImageColumn = "Path", string CaptionColumn = "caption",
    string? LabelColumn = null, IReadOnlyList<string>? Classes = null, string? ImageRoot = null, EmbedTask EmbedTask = EmbedTask.Birads)
{
    /// <param name="needCaptions">Pretraining and retrieval need a caption per row.</param>
    /// <param name="needLabels">Classification needs a label per row (rows without one are dropped for the
    /// CheXpert / RSNA / EMBED readers, whose labels can be blank by design).</param>
    public Manifest Load(string csvPath, bool needCaptions, bool needLabels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(csvPath);
        if (!File.Exists(csvPath)) throw new FileNotFoundException($"{csvPath}: manifest not found", csvPath);
        if (Format == ManifestFormat.Generic)
        {
            if (needLabels && LabelColumn is null) throw new ArgumentException("--label-col is required for this command with the generic format");
            return CsvManifest.Load(csvPath, new ManifestColumns(ImageColumn, CaptionColumn, needLabels ? LabelColumn : null),
                Classes, needCaptions, checkFiles: true, ImageRoot);
        }
        var m = Format switch
        {
            ManifestFormat.Chexpert => ChexpertManifest.Load(csvPath, ImageRoot),
            ManifestFormat.Rsna => RsnaManifest.Load(csvPath, ImageRoot),
            _ => EmbedManifest.Load(csvPath, EmbedTask, ImageRoot),
        };
        var missing = m.Entries.Where(e => !File.Exists(e.ImagePath)).Select(e => $"line {e.SourceLine}: image not found: {e.ImagePath}").ToList();
        if (missing.Count > 0) throw new ManifestException(csvPath, missing);
        if (needLabels) m = m.Labelled();
        if (m.Count == 0) throw new ManifestException(csvPath, [needLabels ? "no labelled rows" : "no data rows"]);
        return m;
    }
}
