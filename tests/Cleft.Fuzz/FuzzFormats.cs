namespace Cleft.Fuzz;

/// <summary>Every fuzzed format by name; each builds its seeds (and any files its reader needs) in a scratch folder.</summary>
public static class FuzzFormats
{
    static readonly Dictionary<string, Func<string, string, FuzzFormat>> All = new(StringComparer.Ordinal)
    {
        ["safetensors"] = BinaryFormats.Safetensors,
        ["png"] = (_, _) => BinaryFormats.Png(),
        ["jpeg"] = (fixtures, _) => BinaryFormats.Jpeg(fixtures),
        ["dicom"] = (fixtures, _) => BinaryFormats.Dicom(fixtures),
        ["csv"] = (_, scratch) => TextFormats.Csv(scratch),
        ["config.json"] = (_, scratch) => TextFormats.CliConfig(scratch),
        ["model.json"] = (_, scratch) => TextFormats.ModelJson(scratch),
        ["trainer.json"] = (_, scratch) => TextFormats.TrainerJson(scratch),
    };

    public static IEnumerable<string> Names => All.Keys;

    /// <param name="fixtures">tests/Cleft.Tests/Fixtures (the JPEG, DICOM and torch safetensors seeds).</param>
    public static FuzzFormat Create(string name, string fixtures, string scratch) =>
        All.TryGetValue(name, out var create) ? create(fixtures, scratch)
        : throw new ArgumentException($"unknown fuzz format '{name}'; one of {string.Join(", ", All.Keys)}");
}
