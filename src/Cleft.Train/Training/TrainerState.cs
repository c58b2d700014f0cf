using System.Text.Json;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Autograd.Optim;

namespace Cleft.Train.Training;

/// <summary>Where the data stream stands: the next batch to train on is batch <see cref="Batch"/> of epoch <see cref="Epoch"/>.</summary>
public sealed record DataPosition(int Epoch, int Batch);

/// <summary>
/// The part of a checkpoint that makes a resume exact, shared by both stages: optimizer.safetensors (the
/// optimizer's slots) and trainer.json — the frozen-weights fingerprint, every random stream of the model
/// (dropout masks), the data position and the NaN/Inf guard's counts. Restoring all of it makes the next step draw the same masks on the
/// same batch as the uninterrupted run.
/// </summary>
public static class TrainerState
{
    public const string OptimizerFile = "optimizer.safetensors", StateFile = "trainer.json";
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>trainer.json. The guard's counts are 0 in checkpoints written before the guard existed.</summary>
    public sealed record Saved(string Fingerprint, Dictionary<string, ulong[]> RandomStreams, DataPosition? Data, int SkippedSteps = 0, int BadStepsInARow = 0);

    public static void Write(string directory, Optimizer optimizer, Module model, string fingerprint, DataPosition? data, BadStepGuard guard)
    {
        ArgumentNullException.ThrowIfNull(guard);
        SafetensorsWriter.Write(Path.Combine(directory, OptimizerFile), optimizer.ExportState()
            .Select(x => new SafetensorsWriter.Item(x.Key, [x.Value.Length], x.Value)));
        var streams = model.NamedRandomStreams().ToDictionary(x => x.Name, x => x.Stream.ExportState());
        DurableFile.WriteAllText(Path.Combine(directory, StateFile), JsonSerializer.Serialize(new Saved(fingerprint, streams, data, guard.Skipped, guard.InARow), Json));
    }

    /// <summary>
    /// Restores the optimizer (with its step count) and the random streams; refuses a checkpoint made on other
    /// frozen weights (naming both fingerprints) or with a different set of random streams.
    /// </summary>
    /// <summary>trainer.json alone, parsed and checked against the frozen weights' <paramref name="fingerprint"/> (naming both on a mismatch).</summary>
    public static Saved ReadChecked(string directory, string fingerprint)
    {
        string path = Path.Combine(directory, StateFile);
        Saved? saved;
        try { saved = JsonSerializer.Deserialize<Saved>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid trainer state: {e.Message}", e); }
        if (saved?.RandomStreams is null || saved.Fingerprint is null) throw new InvalidDataException($"{path}: incomplete trainer state");
        Models.Recipe.CleftModel.CheckFingerprint(fingerprint, saved.Fingerprint, directory);
        return saved;
    }

    public static Saved Read(string directory, Optimizer optimizer, Module model, string fingerprint, int step, BadStepGuard guard)
    {
        ArgumentNullException.ThrowIfNull(guard);
        string path = Path.Combine(directory, StateFile);
        var saved = ReadChecked(directory, fingerprint);
        var streams = model.NamedRandomStreams().ToList();
        var names = streams.Select(s => s.Name).ToHashSet();
        if (!names.SetEquals(saved.RandomStreams.Keys))
            throw new InvalidDataException($"{path}: random streams [{string.Join(", ", saved.RandomStreams.Keys)}] do not match the model's [{string.Join(", ", names)}]");
        using (var opt = SafetensorsFile.Open(Path.Combine(directory, OptimizerFile)))
            optimizer.ImportState(opt.Entries.Keys.ToDictionary(k => k, opt.ReadFloats), step);
        foreach (var (name, stream) in streams)
        {
            try { stream.ImportState(saved.RandomStreams[name]); }
            catch (ArgumentException e) { throw new InvalidDataException($"{path}: random stream '{name}': {e.Message}", e); }
        }
        try { guard.Restore(saved.SkippedSteps, saved.BadStepsInARow); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        return saved;
    }
}
