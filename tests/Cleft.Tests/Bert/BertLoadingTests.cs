using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;

namespace Cleft.Tests.Bert;

public sealed class BertLoadingTests
{
    static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tiny");

    [Fact]
    public void ParameterNamesAreHuggingFaces()
    {
        using var dev = new CpuBackend();
        using var model = new BertModel(dev, new Rng(1), BertConfig.Tiny(50));
        var names = model.NamedParameters().Select(x => x.Name).ToHashSet();
        Assert.Contains("embeddings.word_embeddings.weight", names);
        Assert.Contains("embeddings.token_type_embeddings.weight", names);
        Assert.Contains("embeddings.LayerNorm.weight", names);
        Assert.Contains("encoder.layer.1.attention.self.query.weight", names);
        Assert.Contains("encoder.layer.0.attention.output.LayerNorm.bias", names);
        Assert.Contains("encoder.layer.0.intermediate.dense.weight", names);
        Assert.Contains("encoder.layer.0.output.dense.bias", names);
        Assert.Contains("pooler.dense.weight", names);
        Assert.Equal(5 + 2 * 16 + 2, names.Count);
    }

    /// <summary>The model holds exactly what the recipe's parameter arithmetic (used by `cleft params`) counts.</summary>
    [Fact]
    public void ParameterCountMatchesTheRecipeArithmetic()
    {
        using var dev = new CpuBackend();
        using var model = new BertModel(dev, new Rng(1), new BertConfig(24, 3, 4, 40, 50, 20, 2));
        var recipe = new Cleft.Models.Recipe.BertConfig(VocabSize: 50, Hidden: 24, Layers: 3, Intermediate: 40, MaxPositions: 20, TypeVocab: 2);
        Assert.Equal(Cleft.Models.Recipe.BertParameterCount.Encoder(recipe, includePooler: true), model.ParameterCount());
    }

    [Fact]
    public void BadConfigsAreNamedWithTheField()
    {
        string dir = Directory.CreateTempSubdirectory("cleft-bert-cfg-").FullName;
        try
        {
            string path = Path.Combine(dir, "config.json");
            void Expect(string json, string field)
            {
                File.WriteAllText(path, json);
                var e = Assert.Throws<InvalidDataException>(() => BertConfig.FromJson(path));
                Assert.Contains(path, e.Message);
                Assert.Contains(field, e.Message);
            }
            Expect("{\"model_type\": \"roberta\"}", "model_type");
            Expect("{\"hidden_act\": \"relu\"}", "hidden_act");
            Expect("{\"position_embedding_type\": \"relative_key\"}", "position_embedding_type");
            Expect("{\"hidden_size\": 30, \"num_attention_heads\": 4}", "hidden_size 30");
            Expect("{\"layer_norm_eps\": \"small\"}", "layer_norm_eps");
            Expect("[1]", "JSON object");
            File.WriteAllText(path, "{\"layer_norm_eps\": 1e-5, \"vocab_size\": 100}");
            var c = BertConfig.FromJson(path);
            Assert.Equal(BertConfig.BertBaseUncased with { LayerNormEps = 1e-5f, VocabSize = 100 }, c);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void MismatchedCheckpointListsEveryProblem()
    {
        using var dev = new CpuBackend();
        var fixture = BertConfig.FromJson(Path.Combine(Dir, "config.json"));
        using var wrong = new BertModel(dev, new Rng(1), fixture with { Layers = 3, IntermediateSize = 48 });
        string weights = Path.Combine(Dir, "model.safetensors");
        var e = Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadWeights(wrong, weights));
        Assert.Contains(weights, e.Message);
        Assert.Contains("missing 'bert.encoder.layer.2.attention.self.query.weight'", e.Message);
        Assert.Contains("'bert.encoder.layer.0.intermediate.dense.weight' is [64, 32], expected [48, 32]", e.Message);
        Assert.DoesNotContain("cls.", e.Message);           // heads outside "bert." are not ours to load
        Assert.DoesNotContain("position_ids", e.Message);   // a buffer, skipped
    }

    [Fact]
    public void UnprefixedFilesLoadToo()
    {
        // The same weights saved as a BertModel file (no "bert." prefix, no heads) give the same parameters.
        string dir = Directory.CreateTempSubdirectory("cleft-bert-plain-").FullName;
        try
        {
            using var dev = new CpuBackend();
            using var prefixed = BertCheckpoint.Load(dev, Dir, new Rng(1));
            using (var src = SafetensorsFile.Open(Path.Combine(Dir, "model.safetensors")))
            {
                var tensors = src.Entries.Keys.Where(k => k.StartsWith("bert.", StringComparison.Ordinal) && !k.EndsWith("position_ids", StringComparison.Ordinal))
                    .Select(k => new SafetensorsWriter.Item(k["bert.".Length..], src.Entries[k].Shape, src.ReadFloats(k)));
                SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
            }
            File.Copy(Path.Combine(Dir, "config.json"), Path.Combine(dir, "config.json"));
            using var plain = BertCheckpoint.Load(dev, dir, new Rng(2));
            var a = prefixed.StateDict();
            foreach (var (name, v) in plain.StateDict()) Assert.Equal(a[name], v);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
