using Cleft.Autograd.IO;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cleft.Models.Recipe;
using Cleft.Train.Training;

namespace Cleft.Train.Runs;

/// <summary>
/// A run's folder, open_clip style: config.json (the resolved options, device and engine version),
/// metrics.jsonl (one JSON object per logged step and per evaluation), checkpoints/, plots/*.png, and
/// results files of each evaluation. Every command that trains or evaluates writes one.
/// </summary>
public sealed class RunFolder
{
    public const string ConfigFile = "config.json", MetricsFile = "metrics.jsonl", CheckpointFolder = "checkpoints", PlotFolder = "plots";
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public RunFolder(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        Metrics = new MetricsLog(Path.Combine(Root, MetricsFile));
    }

    public string Root { get; }
    public MetricsLog Metrics { get; }
    public string Checkpoints => Path.Combine(Root, CheckpointFolder);
    public string Plots => Directory.CreateDirectory(Path.Combine(Root, PlotFolder)).FullName;
    public string PathOf(string name) => Path.Combine(Root, name);

    public static string EngineVersion =>
        typeof(RunFolder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Writes config.json: the command, its resolved options (what --config can read back), device and engine version.</summary>
    public void WriteConfig(string command, IReadOnlyDictionary<string, object?> options, string device, JsonNode? extra = null)
    {
        var json = new JsonObject
        {
            ["command"] = command,
            ["options"] = JsonSerializer.SerializeToNode(options),
            ["device"] = device,
            ["engine"] = EngineVersion,
            ["dotnet"] = Environment.Version.ToString(),
            ["created"] = DateTime.UtcNow.ToString("O"),
        };
        if (extra is not null) json["extra"] = extra;
        DurableFile.WriteAllText(PathOf(ConfigFile), json.ToJsonString(Indented));
    }

    /// <summary>The checkpoint an evaluation should use: the best by validation loss, else the last (see <see cref="CleftModel.ResolveDirectory"/>).</summary>
    public static string ModelDirectory(string runOrCheckpoint) => CleftModel.ResolveDirectory(runOrCheckpoint);
}

/// <summary>
/// metrics.jsonl: one JSON object per line, flushed as written so a killed run keeps every line it logged.
/// Each record has a "kind" ("train", "val", an evaluation's name) and, for training, the "step".
/// </summary>
public sealed class MetricsLog(string path)
{
    public string Path { get; } = path;

    public void Append(string kind, IReadOnlyDictionary<string, object?> values)
    {
        var o = new JsonObject { ["kind"] = kind, ["time"] = DateTime.UtcNow.ToString("O") };
        // JSON has no NaN or infinity: a non-finite number (an undefined AUC, a diverged loss) is written as null.
        foreach (var (k, v) in values) o[k] = v is double d && !double.IsFinite(d) || v is float x && !float.IsFinite(x) ? null : JsonSerializer.SerializeToNode(v);
        using var f = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        using var w = new StreamWriter(f);
        w.WriteLine(o.ToJsonString());
    }

    public IEnumerable<JsonObject> Read(string? kind = null)
    {
        if (!File.Exists(Path)) yield break;
        foreach (var line in File.ReadLines(Path))
        {
            if (line.Length == 0) continue;
            JsonObject? o;
            try { o = JsonNode.Parse(line) as JsonObject; }
            catch (JsonException) { continue; } // a line cut short by a kill
            if (o is not null && (kind is null || (string?)o["kind"] == kind)) yield return o;
        }
    }

    /// <summary>On resume: drops the records of steps after <paramref name="step"/> (logged by the killed run past its last checkpoint).</summary>
    public void TruncateAfter(int step)
    {
        if (!File.Exists(Path)) return;
        var keep = File.ReadLines(Path).Where(line =>
        {
            try { return JsonNode.Parse(line) is JsonObject o && !(o["step"] is { } s && (int)s > step); }
            catch (JsonException) { return false; }
        }).ToList();
        DurableFile.WriteAllText(Path, keep.Count == 0 ? "" : string.Join("\n", keep) + "\n");
    }
}
