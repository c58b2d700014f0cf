using System.Text.Json;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;

namespace Cleft.Tests.Gpt2;

/// <summary>
/// The tiny GPT-2 written by tests/fixtures/generators/gpt2_tiny.py (n_embd 32, 2 layers, 4 heads, vocab 97,
/// n_positions 16, scale_attn_by_inverse_layer_idx true): its HF directory and the PyTorch reference outputs.
/// </summary>
public static class Gpt2Fixture
{
    public sealed record Reference(int batch, int seq, int lora_r, float lora_alpha, int[] input_ids, int[] attention_mask,
        int[] eos_positions, double[] hidden, double[] features, double[] features_no_layer_scale, double[] features_lora,
        double[] cotangent, Dictionary<string, float[]> lora, Dictionary<string, double[]> lora_grads);

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2_tiny");
    public static string WeightsPath => Path.Combine(Directory, Gpt2Checkpoint.WeightsFile);
    public static Gpt2Config Config => Gpt2Config.FromFile(Path.Combine(Directory, Gpt2Checkpoint.ConfigFile));

    static Reference? _ref;
    public static Reference Ref => _ref ??= JsonSerializer.Deserialize<Reference>(File.ReadAllText(Path.Combine(Directory, "reference.json")))!;

    public static Gpt2TextBatch Batch(IBackend dev) => Gpt2TextBatch.Create(dev, Ref.input_ids, Ref.attention_mask, Ref.batch, Ref.seq);

    /// <summary>LoRA with dropout off so it matches the fixture in either mode.</summary>
    public static Gpt2Options LoraOptions(bool half = false) =>
        new() { Lora = new LoraConfig(Ref.lora_r, Ref.lora_alpha, 0f, ["c_attn"]), HalfBase = half };

    /// <summary>The fixture's pretrained weights plus its (non-zero) LoRA matrices.</summary>
    public static Gpt2Model LoadWithLora(IBackend dev, bool half = false)
    {
        var model = Gpt2Checkpoint.Load(dev, Directory, LoraOptions(half), new Rng(5));
        var named = model.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        foreach (var (name, values) in Ref.lora) named[name].Load(values);
        return model;
    }

    /// <summary>All tensors of the fixture file, as (key, shape, values).</summary>
    public static List<SafetensorsWriter.Item> ReadAll()
    {
        using var f = SafetensorsFile.Open(WeightsPath);
        return f.Entries.Values.OrderBy(e => e.Offset).Select(e => new SafetensorsWriter.Item(e.Name, e.Shape, f.ReadFloats(e.Name))).ToList();
    }

    /// <summary>A temporary directory, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cleft-gpt2-" + Guid.NewGuid().ToString("N"));
        public TempDir() => System.IO.Directory.CreateDirectory(Path);
        public static implicit operator string(TempDir d) => d.Path;
        public void Dispose() { try { System.IO.Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }

    /// <summary>A fresh directory holding the fixture config and the given tensors as model.safetensors.</summary>
    public static TempDir WriteModelDir(IEnumerable<SafetensorsWriter.Item> items, string? configJson = null)
    {
        var dir = new TempDir();
        File.WriteAllText(System.IO.Path.Combine(dir, Gpt2Checkpoint.ConfigFile), configJson ?? File.ReadAllText(System.IO.Path.Combine(Directory, Gpt2Checkpoint.ConfigFile)));
        SafetensorsWriter.Write(System.IO.Path.Combine(dir, Gpt2Checkpoint.WeightsFile), items);
        return dir;
    }

    public static double MaxAbsDiff(double[] expected, float[] actual) =>
        expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();

    public static double MaxAbsDiff(float[] expected, float[] actual) =>
        expected.Zip(actual, (e, a) => (double)Math.Abs(e - a)).Max();
}
