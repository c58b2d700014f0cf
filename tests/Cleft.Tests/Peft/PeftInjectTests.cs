using System.Text.Json;
using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Tests.Autograd;
using Cleft.Tests.Gpt2;

namespace Cleft.Tests.Peft;

/// <summary>
/// PeftInjection.Inject by target module name: LoRA on BERT's query/value, IA3 on GPT-2's c_attn + mlp.c_proj (the CLEFT
/// code's option), what trains, that the wrapped model starts unchanged, and what the adapter file says.
/// </summary>
public sealed class PeftInjectTests
{
    const int B = 2, T = 5;
    static readonly int[] Ids = [3, 7, 1, 9, 4, 2, 8, 8, 5, 6];
    static readonly int[] Mask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];

    static float[] Hidden(BertModel model, IBackend dev)
    {
        using var ids = IntTensor.FromArray(dev, Ids, B, T);
        using var mask = IntTensor.FromArray(dev, Mask, B, T);
        using var scope = new TensorScope();
        return model.Forward(ids, mask).LastHiddenState.ToArray();
    }

    static double[] D(float[] v) => v.Select(x => (double)x).ToArray();

    [Fact]
    public void LoraOnBertQueryValueStartsUnchangedAndMergesBack()
    {
        using var dev = new CpuBackend();
        using var bert = new BertModel(dev, new Rng(1), BertConfig.Tiny(12));
        var before = Hidden(bert, dev);
        var baseNames = bert.NamedParameters().Select(x => x.Name).ToList();

        var injected = PeftInjection.Inject(bert, new LoraConfig(4, 8f, 0f, ["query", "value"]), new Rng(2));

        Assert.Equal(["encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.value",
            "encoder.layer.1.attention.self.query", "encoder.layer.1.attention.self.value"], injected);
        var names = bert.NamedParameters().Select(x => x.Name).ToList();
        Assert.Equal(baseNames, names.Where(n => !PeftInjection.IsAdapterParameter(n)));      // base names and order unchanged
        Assert.Contains("encoder.layer.1.attention.self.value.lora_B.weight", names);
        Assert.Equal(8, names.Count(PeftInjection.IsAdapterParameter));
        Assert.Equal(2 * 2 * 4 * (32 + 32), bert.ParameterCount(trainableOnly: true)); // layers x targets x r (in + out)
        Assert.All(bert.NamedParameters(), x => Assert.Equal(PeftInjection.IsAdapterParameter(x.Name), x.Param.RequiresGrad));
        TestData.AssertClose(D(before), Hidden(bert, dev), 1e-5, 1e-5, "BERT with LoRA at init (B = 0)");

        // Non-zero B: the adapter changes the output; merging folds it into W without changing it again.
        var rng = new Rng(3);
        foreach (var (name, p) in bert.NamedParameters().Where(x => x.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)))
            p.Load(TestData.Normal(rng, p.Length, 0.2f));
        var adapted = Hidden(bert, dev);
        Assert.True(Gpt2Fixture.MaxAbsDiff(D(before), adapted) > 1e-3, "a non-zero lora_B should change the output");
        var loras = bert.Layers.SelectMany(l => new[] { l.Query, l.Value }).Cast<LoraLinear>().ToList();
        var query0 = bert.Layers[0].Query.Weight!.ToArray();
        foreach (var l in loras) l.Merge();
        TestData.AssertClose(D(adapted), Hidden(bert, dev), 1e-4, 1e-4, "merged LoRA");
        foreach (var l in loras) l.Unmerge();
        TestData.AssertClose(D(adapted), Hidden(bert, dev), 1e-4, 1e-4, "unmerged LoRA");
        Assert.True(Gpt2Fixture.MaxAbsDiff(D(query0), bert.Layers[0].Query.Weight!.ToArray()) < 1e-6, "unmerge restores W");
    }

    [Fact]
    public void UnknownOrRepeatedTargetsFailNamingTheModules()
    {
        using var dev = new CpuBackend();
        using var bert = new BertModel(dev, new Rng(1), BertConfig.Tiny(12));
        var e = Assert.Throws<ArgumentException>(() => PeftInjection.Inject(bert, new LoraConfig(TargetModules: ["query", "c_attn"]), new Rng(2)));
        Assert.Contains("'c_attn'", e.Message);
        Assert.Contains("attention.self.query", e.Message);
        Assert.Contains("pooler.dense", e.Message);
        Assert.DoesNotContain(bert.NamedParameters(), x => PeftInjection.IsAdapterParameter(x.Name)); // nothing half-injected
        Assert.Contains("no target_modules", Assert.Throws<ArgumentException>(() => PeftInjection.Inject(bert, new Ia3Config(), new Rng(2))).Message);
        PeftInjection.Inject(bert, new Ia3Config(["pooler.dense"]), new Rng(2));
        Assert.Contains("already has an adapter",
            Assert.Throws<ArgumentException>(() => PeftInjection.Inject(bert, new LoraConfig(TargetModules: ["dense"]), new Rng(2))).Message);
        Assert.Contains("feedforward_modules",
            Assert.Throws<ArgumentException>(() => new Ia3Config(["c_attn"], ["mlp.c_proj"]).Validate()).Message);
    }

    [Fact]
    public void Ia3OnGpt2StartsUnchangedAndOnlyItsVectorsTrain()
    {
        using var dev = new CpuBackend();
        using var plain = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options(), new Rng(4));
        using var ia3 = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options { Adapter = Ia3Config.Cleft }, new Rng(4));
        var cfg = ia3.Config;
        Assert.Equal(Enumerable.Range(0, cfg.NLayer).SelectMany(i => new[] { $"h.{i}.attn.c_attn", $"h.{i}.mlp.c_proj" }), ia3.InjectedModules);
        Assert.Equal(cfg.NInner, ia3.Blocks[0].MlpProj.Ia3!.L.Length);      // feed-forward: scales the input
        Assert.Equal(3 * cfg.NEmbd, ia3.Blocks[0].CAttn.Ia3!.L.Length);    // otherwise the output
        long expected = cfg.NLayer * (3L * cfg.NEmbd + cfg.NInner);
        Assert.Equal(expected, ia3.ParameterCount(trainableOnly: true));
        Assert.Equal(expected, Gpt2ParameterCount.Compute(cfg, ia3.Options, embedDim: null).Lora);

        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        Assert.Equal(plain.Forward(batch.Ids, batch.Mask).ToArray(), ia3.Forward(batch.Ids, batch.Mask).ToArray());
        var y = ia3.Forward(batch.Ids, batch.Mask);
        Ops.Sum(Ops.Mul(y, y)).Backward();
        foreach (var (name, p) in ia3.NamedParameters())
            if (PeftInjection.IsAdapterParameter(name)) Assert.True(p.Grad!.ToArray().Any(g => g != 0f), $"{name} got no gradient");
            else Assert.Null(p.Grad);
    }

    [Fact]
    public void Ia3AdapterFileListsWhatWasInjectedAndRoundTrips()
    {
        using var dev = new CpuBackend();
        var options = new Gpt2Options { Adapter = Ia3Config.Cleft };
        using var a = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, options, new Rng(4));
        using var b = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, options, new Rng(4));
        var rng = new Rng(9);
        foreach (var (_, p) in PeftAdapter.LoraParameters(a)) p.Load(TestData.Normal(rng, p.Length).Select(v => 1f + 0.1f * v).ToArray());
        using var dir = new Gpt2Fixture.TempDir();
        PeftAdapter.Save(dir, a, options.Adapter!);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFile))).RootElement;
        Assert.Equal("IA3", json.GetProperty("peft_type").GetString());
        Assert.Equal(["c_attn", "mlp.c_proj"], json.GetProperty("target_modules").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(["mlp.c_proj"], json.GetProperty("feedforward_modules").EnumerateArray().Select(x => x.GetString()));
        var loaded = Assert.IsType<Ia3Config>(PeftAdapter.Load(dir, b));
        Assert.Equal(["mlp.c_proj"], loaded.FeedforwardModules!);
        var pa = a.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        foreach (var (name, p) in PeftAdapter.LoraParameters(b)) Assert.Equal(pa[name].ToArray(), p.ToArray());
        Assert.Contains("h.0.mlp.c_proj.ia3_l", pa.Keys);
    }

    [Fact]
    public void Gpt2LoraTargetsAreHonouredAndSaved()
    {
        using var dev = new CpuBackend();
        // Gpt2Options.Lora is sugar for an injected adapter: its targets decide where LoRA goes (c_attn by default).
        var options = new Gpt2Options { Lora = new LoraConfig(2, 4f, 0f, ["c_attn", "mlp.c_fc"]) };
        using var model = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, options, new Rng(4));
        Assert.NotNull(model.Blocks[0].Fc.Lora);
        Assert.Null(model.Blocks[0].MlpProj.Lora);
        Assert.Equal(Gpt2ParameterCount.Compute(model.Config, options, embedDim: null).Lora, model.ParameterCount(trainableOnly: true));
        using var dir = new Gpt2Fixture.TempDir();
        PeftAdapter.Save(dir, model, options.EffectiveAdapter!);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFile))).RootElement;
        Assert.Equal(["c_attn", "mlp.c_fc"], json.GetProperty("target_modules").EnumerateArray().Select(x => x.GetString()));
        using var plainLora = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options { Lora = new LoraConfig(2, 4f, 0f) }, new Rng(4));
        Assert.Equal(Enumerable.Range(0, model.Config.NLayer).Select(i => $"h.{i}.attn.c_attn"), plainLora.InjectedModules);
    }
}
