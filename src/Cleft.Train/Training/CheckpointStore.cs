using System.Text.Json;
using Cleft.Autograd.IO;

namespace Cleft.Train.Training;

/// <summary>One saved checkpoint: its directory name under the store, step, learning rate and metrics.</summary>
public sealed record CheckpointInfo(string Name, int Step, float LearningRate, float? ValLoss, Dictionary<string, double> Metrics);

/// <summary>
/// A directory of training checkpoints keeping the best <see cref="KeepBest"/> by validation loss plus the last
/// (docs/RECIPE.md §stage-1: top-2 + last). Each checkpoint is written into a hidden temporary directory and renamed into
/// place (a rename is atomic), and the index <see cref="IndexFile"/> is replaced by rename as well, so a run killed
/// at any point leaves every previously completed checkpoint and a consistent index. Every file is written with
/// <see cref="DurableFile"/> (fsynced before its rename; safetensors files carry a SHA-256 of their data that
/// loading checks), and the temporary directory and the store are fsynced around the directory rename, so a
/// checkpoint the index names is complete on disk even after a power loss. Opening the store removes stale
/// temporaries; the first save removes step folders the index does not name (left by a kill while an old
/// checkpoint was being deleted) — only a writer does that, since a reader opening the store while a run saves
/// would see the run's newest folder before the index names it. Old checkpoints are deleted only after the new
/// index is on disk.
/// </summary>
public sealed class CheckpointStore
{
    public const string IndexFile = "checkpoints.json";
    public const string StateFile = "state.json";
    const string TempPrefix = DurableFile.TempPrefix, StepPrefix = "step-";
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    readonly List<CheckpointInfo> _entries;
    bool _orphansRemoved;

    public CheckpointStore(string root, int keepBest = 2)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (keepBest < 0) throw new ArgumentOutOfRangeException(nameof(keepBest), $"keep best must be >= 0, got {keepBest}");
        Root = root;
        KeepBest = keepBest;
        Directory.CreateDirectory(root);
        foreach (var stale in Directory.EnumerateFileSystemEntries(root, TempPrefix + "*"))
        {
            if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
            else File.Delete(stale);
        }
        string index = Path.Combine(root, IndexFile);
        try
        {
            _entries = File.Exists(index)
                ? JsonSerializer.Deserialize<List<CheckpointInfo>>(File.ReadAllText(index))
                  ?? throw new InvalidDataException($"{index}: empty checkpoint index")
                : [];
        }
        catch (JsonException e) { throw new InvalidDataException($"{index}: not a valid checkpoint index: {e.Message}", e); }
    }

    public string Root { get; }
    public int KeepBest { get; }
    public IReadOnlyList<CheckpointInfo> Entries => _entries;
    public CheckpointInfo? Last => _entries.MaxBy(e => e.Step);
    public CheckpointInfo? Best => _entries.Where(e => e.ValLoss is not null).MinBy(e => e.ValLoss);
    public string PathOf(CheckpointInfo info) => Path.Combine(Root, info.Name);

    /// <summary>
    /// Writes a checkpoint: <paramref name="writeContents"/> fills a fresh directory, then state.json is added,
    /// the directory is renamed to step-NNNNNNNN, the index is replaced, and checkpoints outside top-k + last are
    /// deleted. Returns the final directory.
    /// </summary>
    public string Save(int step, float learningRate, float? valLoss, IReadOnlyDictionary<string, double>? metrics, Action<string> writeContents)
    {
        ArgumentNullException.ThrowIfNull(writeContents);
        var info = new CheckpointInfo($"{StepPrefix}{step:D8}", step, learningRate, valLoss,
            metrics is null ? [] : new Dictionary<string, double>(metrics));
        string temp = Path.Combine(Root, TempPrefix + info.Name + "-" + Guid.NewGuid().ToString("N"));
        string final = Path.Combine(Root, info.Name);
        if (!_orphansRemoved)
        {
            var named = _entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var orphan in Directory.EnumerateDirectories(Root, StepPrefix + "*"))
                if (!named.Contains(Path.GetFileName(orphan))) Directory.Delete(orphan, recursive: true);
            _orphansRemoved = true;
        }
        Directory.CreateDirectory(temp);
        try
        {
            writeContents(temp);
            DurableFile.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(info, Json));
            // writeContents may have made subfolders (adapter/) whose entries DurableFile synced, but not the
            // subfolder's own entry in temp: sync every folder so the whole tree is on disk before the rename.
            foreach (var sub in Directory.EnumerateDirectories(temp, "*", SearchOption.AllDirectories)) DurableFile.SyncDirectory(sub);
            DurableFile.SyncDirectory(temp);
            // Saving the same step twice replaces the older copy; it leaves the index first so no entry points at a hole.
            if (Directory.Exists(final))
            {
                _entries.RemoveAll(e => e.Name == info.Name);
                WriteIndex();
                Directory.Delete(final, recursive: true);
            }
            Directory.Move(temp, final);
            DurableFile.SyncDirectory(Root);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
        _entries.Add(info);
        var keep = Retained();
        var dropped = _entries.Where(e => !keep.Contains(e.Name)).ToList();
        _entries.RemoveAll(e => !keep.Contains(e.Name));
        WriteIndex();
        foreach (var d in dropped)
        {
            string dir = Path.Combine(Root, d.Name);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        return final;
    }

    /// <summary>Names to keep: the <see cref="KeepBest"/> lowest validation losses (earlier step on ties) and the last.</summary>
    HashSet<string> Retained()
    {
        var keep = _entries.Where(e => e.ValLoss is not null).OrderBy(e => e.ValLoss).ThenBy(e => e.Step)
            .Take(KeepBest).Select(e => e.Name).ToHashSet();
        if (Last is { } last) keep.Add(last.Name);
        return keep;
    }

    void WriteIndex() => DurableFile.WriteAllText(Path.Combine(Root, IndexFile), JsonSerializer.Serialize(_entries, Json));

    /// <summary>Reads a checkpoint directory's state.json.</summary>
    public static CheckpointInfo ReadInfo(string checkpointDirectory)
    {
        string path = Path.Combine(checkpointDirectory, StateFile);
        try
        {
            return JsonSerializer.Deserialize<CheckpointInfo>(File.ReadAllText(path))
                ?? throw new InvalidDataException($"{path}: empty checkpoint state");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid checkpoint state: {e.Message}", e); }
    }
}
