using System.Text.Json.Nodes;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels.Cpu;
using Cleft.Models.Gpt2;

namespace Cleft.Tests.Gpt2;

/// <summary>config.json parsing and safetensors loading: every error names the file and the field or tensor.</summary>
public sealed class Gpt2LoadingTests
{
    static string ConfigWith(Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(Gpt2Fixture.Directory, Gpt2Checkpoint.ConfigFile)))!.AsObject();
        edit(o);
        return o.ToJsonString();
    }

    static InvalidDataException LoadFails(string dir)
    {
        using var dev = new CpuBackend();
        return Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(dev, dir, new Gpt2Options(), new Rng(1)).Dispose());
    }

    [Fact]
    public void ParsesFixtureConfigAndPresets()
    {
        var c = Gpt2Fixture.Config;
        Assert.Equal((32, 2, 4, 16, 97, 128, 96, 96), (c.NEmbd, c.NLayer, c.NHead, c.NPositions, c.VocabSize, c.NInner, c.BosTokenId, c.EosTokenId));
        Assert.True(c.ScaleAttnByInverseLayerIdx);
        Assert.Equal(1e-5f, c.LayerNormEpsilon);
        var bio = Gpt2Config.BioMedLm();
        Assert.Equal((2560, 32, 20, 128, 28895), (bio.NEmbd, bio.NLayer, bio.NHead, bio.HeadDim, bio.EosTokenId));
        Assert.True(bio.ScaleAttnByInverseLayerIdx);
        Assert.False(Gpt2Config.Gpt2Small().ScaleAttnByInverseLayerIdx);
        bio.Validate();
        Gpt2Config.Gpt2Small().Validate();
    }

    [Theory]
    [InlineData("activation_function", "\"relu\"", "activation_function 'relu'")]
    [InlineData("n_head", null, "'n_head' is missing")]
    [InlineData("n_embd", "30", "not divisible by n_head")]
    [InlineData("model_type", "\"bert\"", "model_type")]
    [InlineData("scale_attn_by_inverse_layer_idx", "\"yes\"", "scale_attn_by_inverse_layer_idx")]
    [InlineData("eos_token_id", "97", "eos_token_id")]
    [InlineData("scale_attn_weights", "false", "scale_attn_weights")]
    public void BadConfigIsRefusedNamingFileAndField(string key, string? json, string expected)
    {
        using var dir = Gpt2Fixture.WriteModelDir(Gpt2Fixture.ReadAll(), ConfigWith(o =>
        {
            if (json is null) o.Remove(key); else o[key] = JsonNode.Parse(json);
        }));
        var e = LoadFails(dir);
        Assert.Contains(Path.Combine(dir.Path, "config.json"), e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var dir = Gpt2Fixture.WriteModelDir(Gpt2Fixture.ReadAll().Where(i => i.Name != "transformer.h.1.mlp.c_fc.bias"));
        var e = LoadFails(dir);
        Assert.Contains(Path.Combine(dir.Path, "model.safetensors"), e.Message);
        Assert.Contains("missing 'h.1.mlp.c_fc.bias' [128]", e.Message);
    }

    [Fact]
    public void MisshapedAndUnexpectedTensorsAreAllNamed()
    {
        var items = Gpt2Fixture.ReadAll().Select(i => i.Name == "transformer.h.0.attn.c_proj.weight"
            ? new SafetensorsWriter.Item(i.Name, [32, 31], i.Data[..(32 * 31)]) : i).ToList();
        items.Add(new SafetensorsWriter.Item("transformer.h.2.ln_1.weight", [32], new float[32]));
        using var dir = Gpt2Fixture.WriteModelDir(items);
        var e = LoadFails(dir);
        Assert.Contains("'transformer.h.0.attn.c_proj.weight' is [32,31], the model expects [32,32]", e.Message);
        Assert.Contains("unexpected 'transformer.h.2.ln_1.weight'", e.Message);
    }

    [Fact]
    public void WrongConfigForTheWeightsReportsEveryMisshapedTensor()
    {
        using var dir = Gpt2Fixture.WriteModelDir(Gpt2Fixture.ReadAll(), ConfigWith(o => o["vocab_size"] = 100));
        var e = LoadFails(dir);
        Assert.Contains("'transformer.wte.weight' is [97,32], the model expects [100,32]", e.Message);
    }

    [Fact]
    public void KeysWithoutPrefixAndWithoutBuffersLoadTheSameModel()
    {
        var items = Gpt2Fixture.ReadAll()
            .Where(i => i.Name != "lm_head.weight" && !i.Name.EndsWith(".attn.bias", StringComparison.Ordinal) && !i.Name.EndsWith("masked_bias", StringComparison.Ordinal))
            .Select(i => i with { Name = i.Name["transformer.".Length..] });
        using var dir = Gpt2Fixture.WriteModelDir(items);
        using var dev = new CpuBackend();
        using var a = Gpt2Checkpoint.Load(dev, dir, new Gpt2Options(), new Rng(1));
        using var b = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options(), new Rng(2));
        foreach (var ((na, pa), (nb, pb)) in a.NamedParameters().Zip(b.NamedParameters()))
        {
            Assert.Equal(na, nb);
            Assert.Equal(pb.ToArray(), pa.ToArray());
        }
    }

    [Fact]
    public void PrefixedAndUnprefixedDuplicateIsRefused()
    {
        var items = Gpt2Fixture.ReadAll();
        var ln = items.First(i => i.Name == "transformer.ln_f.bias");
        items.Add(ln with { Name = "ln_f.bias" });
        using var dir = Gpt2Fixture.WriteModelDir(items);
        var e = LoadFails(dir);
        Assert.Contains("'ln_f.bias' appears both as", e.Message);
    }

    [Fact]
    public void ShardedCheckpointLoadsThroughIndex()
    {
        var items = Gpt2Fixture.ReadAll();
        using var dir = new Gpt2Fixture.TempDir();
        File.Copy(Path.Combine(Gpt2Fixture.Directory, Gpt2Checkpoint.ConfigFile), Path.Combine(dir, Gpt2Checkpoint.ConfigFile));
        // Layer 1 and ln_f in a second shard, everything else in the first, as HF splits large models.
        var second = items.Where(i => i.Name.Contains(".h.1.", StringComparison.Ordinal) || i.Name.Contains("ln_f", StringComparison.Ordinal)).ToList();
        var first = items.Except(second).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), first);
        SafetensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), second);
        var map = new JsonObject();
        foreach (var i in first) map[i.Name] = "model-00001-of-00002.safetensors";
        foreach (var i in second) map[i.Name] = "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(dir, Gpt2Checkpoint.IndexFile), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        using var dev = new CpuBackend();
        using var a = Gpt2Checkpoint.Load(dev, dir, new Gpt2Options(), new Rng(1));
        using var b = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options(), new Rng(2));
        Assert.Equal(b.LnF.Weight.ToArray(), a.LnF.Weight.ToArray());
        Assert.Equal(b.Blocks[1].Fc.Weight!.ToArray(), a.Blocks[1].Fc.Weight!.ToArray());

        // A shard name that escapes the directory is refused, naming the index.
        map["transformer.wte.weight"] = "../model.safetensors";
        File.WriteAllText(Path.Combine(dir, Gpt2Checkpoint.IndexFile), new JsonObject { ["weight_map"] = map.DeepClone() }.ToJsonString());
        var e = LoadFails(dir);
        Assert.Contains(Gpt2Checkpoint.IndexFile, e.Message);
        Assert.Contains("transformer.wte.weight", e.Message);
    }
}
