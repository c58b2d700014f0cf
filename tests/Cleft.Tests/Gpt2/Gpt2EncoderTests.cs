using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Xunit.Abstractions;

namespace Cleft.Tests.Gpt2;

/// <summary>Encoder behaviour: feature positions, parameter counts, what trains, fp16 base, adapters.</summary>
public sealed class Gpt2EncoderTests(ITestOutputHelper output)
{
    static bool IsLora(string name) => name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal);

    [Fact]
    public void EosPositionIsFirstPadAfterLastRealTokenOrLastToken()
    {
        int[] mask = [1, 1, 1, 0, 0, /**/ 1, 1, 1, 1, 1, /**/ 1, 0, 0, 0, 0];
        Assert.Equal([3, 4, 1], Gpt2TextBatch.EosPositionsOf(mask, 3, 5));
        var holed = Assert.Throws<ArgumentException>(() => Gpt2TextBatch.EosPositionsOf([1, 0, 1, 0], 1, 4));
        Assert.Contains("row 0 is not right padding", holed.Message);
        Assert.Contains("no real token", Assert.Throws<ArgumentException>(() => Gpt2TextBatch.EosPositionsOf([1, 1, 0, 0], 2, 2)).Message);
    }

    [Fact]
    public void TokenizedCaptionsGatherAtEosOrLastTokenWhenTruncated()
    {
        // Byte-level vocabulary only (ids 0..255) plus <|endoftext|> = 256: one token per character.
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => Cleft.Models.Text.Gpt2Tokenizer.ByteChar((byte)b).ToString(), b => b);
        vocab["<|endoftext|>"] = 256;
        var tok = new Cleft.Models.Text.Gpt2Tokenizer(vocab, []);
        using var dev = new CpuBackend();
        using var batch = Gpt2TextBatch.Encode(dev, tok, ["ab", "abcdef"], maxLength: 4, eosId: 256);
        Assert.Equal([2, 3], batch.EosPositions);
        Assert.Equal(['a', 'b', 256, 256, 'a', 'b', 'c', 'd'], batch.Ids.ToArray());
        Assert.Equal([2, 7], batch.GatherIndex.ToArray());
        Assert.Throws<ArgumentException>(() => Gpt2TextBatch.Encode(dev, tok, [""], 4, 256).Dispose());
    }

    [Fact]
    public void BioMedLmLoraCountComesFromConfigAlone()
    {
        var counts = Gpt2ParameterCount.Compute(Gpt2Config.BioMedLm(), Gpt2Options.Cleft);
        output.WriteLine($"BioMedLM + LoRA: {counts}");
        Assert.Equal(32L * (8 * 2560 + 7680 * 8), counts.Lora);
        Assert.Equal(2_621_440L, counts.Lora);
        Assert.Equal(2560L * 512 + 512, counts.Projection);
        Assert.Equal(2_621_440L + 1_311_232L, counts.Trainable);
        // gpt2's well-known 124,439,808 parameters (wte tied to lm_head).
        Assert.Equal(124_439_808L, Gpt2ParameterCount.Compute(Gpt2Config.Gpt2Small(), new Gpt2Options(), null).Base);
    }

    public static TheoryData<string> OptionNames => ["cleft", "cleft-half", "cleft-embed-ln", "full", "frozen"];

    static Gpt2Options Options(string name) => name switch
    {
        "cleft" => Gpt2Options.Cleft,
        "cleft-half" => Gpt2Options.Cleft with { HalfBase = true },
        "cleft-embed-ln" => Gpt2Options.Cleft with { TrainEmbeddings = true, UnlockLayerNorm = true },
        "full" => new Gpt2Options { FreezeBase = false },
        _ => new Gpt2Options(),
    };

    [Theory]
    [MemberData(nameof(OptionNames))]
    public void ModuleCountsAgreeWithConfigArithmetic(string option)
    {
        var o = Options(option);
        using var dev = new CpuBackend();
        using var enc = new Gpt2TextEncoder(dev, Gpt2Fixture.Config, o, new Rng(1), 24);
        var c = Gpt2ParameterCount.Compute(Gpt2Fixture.Config, o, 24);
        Assert.Equal(c.Total, enc.TotalParameterCount);
        Assert.Equal(c.Trainable, enc.ParameterCount(trainableOnly: true));
        output.WriteLine($"{option}: module {enc.ParameterReport()}; config {c}");
        Assert.Equal(c.ToString()[..c.ToString().IndexOf(" (", StringComparison.Ordinal)], enc.ParameterReport()[..enc.ParameterReport().IndexOf(" (", StringComparison.Ordinal)]);
    }

    [Fact]
    public void GradientsReachOnlyLoraAndProjectionWhenBaseIsFrozen()
    {
        using var dev = new CpuBackend();
        using var enc = new Gpt2TextEncoder(Gpt2Fixture.LoadWithLora(dev), new Rng(3), 8);
        using var batch = Gpt2Fixture.Batch(dev);
        using (var scope = new TensorScope()) Ops.Sum(enc.Forward(batch)).Backward();
        foreach (var (name, p) in enc.NamedParameters())
        {
            bool shouldTrain = IsLora(name) || name.StartsWith("projection.", StringComparison.Ordinal);
            Assert.True(shouldTrain == p.RequiresGrad, $"{name}: RequiresGrad {p.RequiresGrad}");
            Assert.True(shouldTrain == p.Grad is not null, $"{name}: gradient {(p.Grad is null ? "missing" : "present")}");
        }
    }

    [Fact]
    public void TrainEmbedAndUnlockLnAddWteAndLayerNorms()
    {
        using var dev = new CpuBackend();
        using var enc = new Gpt2TextEncoder(dev, Gpt2Fixture.Config, Gpt2Options.Cleft with { TrainEmbeddings = true, UnlockLayerNorm = true }, new Rng(1), 8);
        using var batch = Gpt2Fixture.Batch(dev);
        using (var scope = new TensorScope()) Ops.Sum(enc.Forward(batch)).Backward();
        var grads = enc.NamedParameters().Where(x => x.Param.Grad is not null).Select(x => x.Name).ToHashSet();
        Assert.Contains("transformer.wte.weight", grads);
        Assert.Contains("transformer.h.1.ln_2.weight", grads);
        Assert.Contains("transformer.ln_f.bias", grads);
        Assert.DoesNotContain("transformer.wpe.weight", grads);
        Assert.DoesNotContain("transformer.h.0.mlp.c_fc.weight", grads);
    }

    [Fact]
    public void HalfBaseStaysWithinFp16ToleranceOfFp32()
    {
        using var dev = new CpuBackend();
        using var full = Gpt2Fixture.LoadWithLora(dev);
        using var half = Gpt2Fixture.LoadWithLora(dev, half: true);
        Assert.Equal(full.TotalParameterCount, half.TotalParameterCount);
        Assert.True(half.HalfParameterCount > 0 && half.ParameterCount() < full.ParameterCount());
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var a = full.Forward(batch.Ids, batch.Mask).ToArray();
        var b = half.Forward(batch.Ids, batch.Mask).ToArray();
        double diff = Gpt2Fixture.MaxAbsDiff(a, b);
        output.WriteLine($"fp16 base vs fp32: hidden max |diff| {diff:E2}");
        // fp16 keeps 11 significant bits (relative rounding 2^-11 ~ 4.9e-4); through 2 layers and ln_f of O(1)
        // activations that stays well under 2e-2, and it must be non-zero (the weights really were rounded).
        Assert.InRange(diff, 1e-7, 2e-2);
    }

    [Fact]
    public void LoraAdapterRoundTripsThroughPeftFiles()
    {
        using var dev = new CpuBackend();
        using var a = Gpt2Fixture.LoadWithLora(dev);
        using var tmp = new Gpt2Fixture.TempDir();
        var dir = Path.Combine(tmp.Path, "adapter");
        var cfg = Gpt2Fixture.LoraOptions().Lora!;
        PeftAdapter.Save(dir, a, cfg);
        using (var f = Cleft.Autograd.IO.SafetensorsFile.Open(Path.Combine(dir, PeftAdapter.WeightsFile)))
            Assert.Contains("base_model.model.h.1.attn.c_attn.lora_B.weight", f.Entries.Keys);
        using var b = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, Gpt2Fixture.LoraOptions(), new Rng(99));
        var loaded = PeftAdapter.Load(dir, b);
        Assert.Equal(cfg.R, Assert.IsType<LoraConfig>(loaded).R);
        var pa = a.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        foreach (var (name, p) in b.NamedParameters()) Assert.Equal(pa[name].ToArray(), p.ToArray());
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        Assert.Equal(a.Forward(batch.Ids, batch.Mask).ToArray(), b.Forward(batch.Ids, batch.Mask).ToArray());
    }

    [Fact]
    public void HfDropoutActsInTrainingOnlyAndLeavesWeightsUnchanged()
    {
        using var dev = new CpuBackend();
        using var plain = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, Gpt2Fixture.LoraOptions(), new Rng(4));
        using var drop = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, Gpt2Fixture.LoraOptions() with { HfDropout = true }, new Rng(4));
        // Same seed: the dropout stream is drawn after every initial value, so LoRA A starts identical.
        Assert.Equal(plain.Blocks[1].CAttn.Lora!.LoraA.ToArray(), drop.Blocks[1].CAttn.Lora!.LoraA.ToArray());
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var reference = plain.Forward(batch.Ids, batch.Mask).ToArray();
        var trained = drop.Forward(batch.Ids, batch.Mask);
        Assert.True(Gpt2Fixture.MaxAbsDiff(reference, trained.ToArray()) > 1e-2, "dropout in training mode should change the output");
        Ops.Sum(trained).Backward();
        Assert.NotNull(drop.Blocks[0].CAttn.Lora!.LoraA.Grad);
        drop.Eval();
        Assert.Equal(reference, drop.Forward(batch.Ids, batch.Mask).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KeptRowsMatchTheGatheredFullOutput(bool unlockLayerNorm)
    {
        // The last block runs only the pooled rows: forward values and every gradient must be those of the full pass,
        // up to float rounding (a few rows may take the GEMM's direct route instead of the packed one, which sums in
        // another order).
        using var dev = new CpuBackend();
        var options = Gpt2Fixture.LoraOptions() with { UnlockLayerNorm = unlockLayerNorm };
        using var pooled = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, options, new Rng(5));
        using var full = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, options, new Rng(5));
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var kept = pooled.Forward(batch.Ids, batch.Mask, batch.GatherIndex);
        var hidden = full.Forward(batch.Ids, batch.Mask);
        var gathered = Ops.IndexSelect(Ops.Reshape(hidden, -1, full.Config.NEmbd), batch.GatherIndex);
        Assert.Equal([batch.Batch, full.Config.NEmbd], kept.Shape);
        static double[] F64(float[] x) => [.. x.Select(v => (double)v)];
        Autograd.TestData.AssertClose(F64(gathered.ToArray()), kept.ToArray(), 1e-5, 1e-5, "kept rows");
        // A weighting that differs per element, so a misplaced gradient row cannot cancel out.
        var w = Tensor.FromArray(dev, [.. Enumerable.Range(0, (int)kept.Length).Select(i => MathF.Sin(i + 1f))], kept.Shape);
        Ops.Sum(Ops.Mul(kept, w)).Backward();
        Ops.Sum(Ops.Mul(gathered, w)).Backward();
        var fullGrads = full.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        int compared = 0;
        foreach (var (name, p) in pooled.NamedParameters().Where(x => x.Param.RequiresGrad))
        {
            Assert.True(p.Grad is not null, $"{name}: no gradient through the kept rows");
            Autograd.TestData.AssertClose(F64(fullGrads[name].Grad!.ToArray()), p.Grad!.ToArray(), 1e-5, 1e-4, name);
            compared++;
        }
        Assert.True(compared >= 4, $"only {compared} trained tensors compared");
    }
}
