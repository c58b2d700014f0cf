using Cleft.Autograd.IO;
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
        DurableFile.WriteAllText(jsonPath, text + "\n");
        DurableFile.WriteAllText(Path.Combine(directory, name + ".md"), markdown);
    }
}
