using System.Text.Encodings.Web;
using System.Text.Json;

namespace Cleft.Train.Reports;

/// <summary>Writes a run folder's result files: <c>&lt;name&gt;.json</c> and <c>&lt;name&gt;.md</c>.</summary>
public static class ResultsWriter
{
    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        // class names and arrows stay readable in the file (it is never embedded in HTML)
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <param name="directory">the run folder (created if missing).</param>
    /// <param name="name">file stem, e.g. "results" or "zeroshot-stage1"; no path separators.</param>
    /// <param name="json">plain values (numbers, strings, arrays, dictionaries); NaN is not valid JSON, so
    /// undefined metrics must already be null (see <see cref="JsonValues.Number"/>).</param>
    public static void Write(string directory, string name, IReadOnlyDictionary<string, object> json, string markdown)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('/') || name.Contains('\\'))
            throw new ArgumentException($"results: '{name}' is not a plain file name");
        Directory.CreateDirectory(directory);
        string jsonPath = Path.Combine(directory, name + ".json");
        string text;
        try { text = JsonSerializer.Serialize(json, Options); }
        catch (ArgumentException e) // System.Text.Json's error for NaN / infinity
        {
            throw new ArgumentException($"{jsonPath}: a value cannot be written as JSON ({e.Message}); write undefined metrics as null", e);
        }
        ReplaceAtomically(jsonPath, tmp => File.WriteAllText(tmp, text + "\n"));
        ReplaceAtomically(Path.Combine(directory, name + ".md"), tmp => File.WriteAllText(tmp, markdown));
    }

    /// <summary>
    /// Writes through <paramref name="writeTemp"/> to a temporary file in the target's folder, then renames it over
    /// the target, so a reader (or a crash mid-write) never leaves a partial file. The temporary name keeps the
    /// extension, for writers that choose a format from it.
    /// </summary>
    internal static void ReplaceAtomically(string path, Action<string> writeTemp)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp{Path.GetExtension(full)}");
        try
        {
            writeTemp(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
