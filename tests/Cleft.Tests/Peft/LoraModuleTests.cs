using System.Text.Json;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Models.Layers;
using Cleft.Models.Peft;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Peft;

/// <summary>LoraLinear / FrozenLinear modules: PEFT init, PyTorch parity, merge, adapter files, fp16 memory.</summary>
public sealed class LoraModuleTests
{
    sealed record Fixture(int[] lead, int in_features, int out_features, int r, float alpha, float scaling,
        float[] x, float[] weight, float[] bias, float[] lora_A, float[] lora_B, float[] cotangent,
        double[] y, double[] grad_x, double[] grad_lora_A, double[] grad_lora_B);

    [Fact]
    public void ForwardAndGradientsMatchPyTorchFixture()
    {
        var f = JsonSerializer.Deserialize<Fixture>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "lora_linear.json")))!;
        using var dev = new CpuBackend();
        using var lora = new LoraLinear(new Linear(dev, new Rng(1), f.in_features, f.out_features), new LoraConfig(f.r, f.alpha, 0f), new Rng(2));
        lora.LoadStateDict(new Dictionary<string, float[]>
        {
            ["weight"] = f.weight, ["bias"] = f.bias, ["lora_A.weight"] = f.lora_A, ["lora_B.weight"] = f.lora_B,
        });
        using var scope = new TensorScope();
        var x = Tensor.FromArray(dev, f.x, [.. f.lead, f.in_features]);
        x.RequiresGrad = true;
        var y = lora.Forward(x);
        y.Backward(Tensor.FromArray(dev, f.cotangent, y.Shape));
        TestData.AssertClose(f.y, y, 1e-5, 1e-5, "y");
        TestData.AssertClose(f.grad_x, x.Grad!, 1e-5, 1e-5, "grad x");
        TestData.AssertClose(f.grad_lora_A, lora.LoraA.Grad!, 1e-5, 1e-5, "grad lora_A");
        TestData.AssertClose(f.grad_lora_B, lora.LoraB.Grad!, 1e-5, 1e-5, "grad lora_B");
        Assert.Null(lora.Weight!.Grad);
        Assert.Null(lora.Bias!.Grad);
        x.Dispose();
    }

    [Fact]
    public void PeftInitStartsAtTheBaseAndOnlyLoraIsTrainable()
    {
        using var dev = new CpuBackend();
        var lin = new Linear(dev, new Rng(3), 40, 24);
        var w = lin.Weight.ToArray();
        using var lora = new LoraLinear(lin, new LoraConfig(), new Rng(4));
        Assert.All(lora.LoraB.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(lora.LoraA.ToArray(), v => Assert.InRange(v, -1f / MathF.Sqrt(40), 1f / MathF.Sqrt(40)));
        Assert.Equal(["lora_A.weight", "lora_B.weight"], lora.TrainableParameters().Select(p => p.Name!).ToArray());
        Assert.Equal(8 * 40 + 24 * 8, lora.ParameterCount(trainableOnly: true));
        Assert.Equal(w, lora.Weight!.ToArray());
    }

    static LoraLinear Trained(CpuBackend dev, bool half, int seed = 5)
    {
        var lora = new LoraLinear(new Linear(dev, new Rng((ulong)seed), 19, 23), new LoraConfig(4, 16f, 0.1f), new Rng(6), halfBase: half);
        lora.LoraB.Load(TestData.NonZero(new Rng(7), 23 * 4).Select(v => v * 0.1f).ToArray());
        return lora;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergeGivesTheSameOutputAndUnmergeRestores(bool half)
    {
        using var dev = new CpuBackend();
        using var lora = Trained(dev, half);
        lora.Eval();
        using var scope = new TensorScope();
        var x = Tensor.FromArray(dev, TestData.NonZero(new Rng(8), 6 * 19), 6, 19);
        var before = lora.Forward(x).ToArray();
        var w0 = half ? lora.HalfWeight!.ToArray() : lora.Weight!.ToArray();
        lora.Merge();
        Assert.Throws<InvalidOperationException>(() => lora.Merge());
        var merged = lora.Forward(x).ToArray();
        TestData.AssertClose(before.Select(v => (double)v).ToArray(), merged, half ? 2e-2 : 1e-5, half ? 2e-3 : 1e-5, "merged forward");
        lora.Unmerge();
        var w1 = half ? lora.HalfWeight!.ToArray() : lora.Weight!.ToArray();
        // fp32: W + d - d is W up to one rounding per element; fp16: within two fp16 roundings.
        TestData.AssertClose(w0.Select(v => (double)v).ToArray(), w1, half ? 2e-3 : 1e-6, half ? 2e-3 : 1e-6, "unmerged weight");
        TestData.AssertClose(before.Select(v => (double)v).ToArray(), lora.Forward(x).ToArray(), half ? 2e-2 : 1e-5, 1e-4, "unmerged forward");
    }

    [Fact]
    public void ModuleDropoutIsDeterministicByRngSeedAndOffInEval()
    {
        using var dev = new CpuBackend();
        using var a = Trained(dev, false);
        using var b = Trained(dev, false);
        using var scope = new TensorScope();
        var x = Tensor.FromArray(dev, TestData.NonZero(new Rng(9), 5 * 19), 5, 19);
        Assert.Equal(a.Forward(x).ToArray(), b.Forward(x).ToArray());     // same seeds, same masks
        Assert.NotEqual(a.Forward(x).ToArray(), a.Forward(x).ToArray());  // a fresh mask each call
        a.Eval();
        Assert.Equal(a.Forward(x).ToArray(), a.Forward(x).ToArray());
    }

    [Fact]
    public void AdapterRoundTripsThroughPeftFiles()
    {
        using var dev = new CpuBackend();
        using var src = Trained(dev, false);
        string dir = Directory.CreateTempSubdirectory("cleft-adapter-").FullName;
        try
        {
            PeftAdapter.Save(dir, src, src.Config with { TargetModules = ["c_attn"] });
            using (var file = SafetensorsFile.Open(Path.Combine(dir, PeftAdapter.WeightsFile)))
            {
                Assert.Equal(["base_model.model.lora_A.weight", "base_model.model.lora_B.weight"], file.Entries.Keys.Order().ToArray());
                Assert.Equal([4, 19], file.Entries["base_model.model.lora_A.weight"].Shape);
                Assert.Equal("F32", file.Entries["base_model.model.lora_B.weight"].Dtype);
            }
            var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapter.ConfigFile))).RootElement;
            Assert.Equal("LORA", cfg.GetProperty("peft_type").GetString());
            Assert.Equal(4, cfg.GetProperty("r").GetInt32());
            Assert.Equal(16, cfg.GetProperty("lora_alpha").GetDouble());
            Assert.True(cfg.GetProperty("fan_in_fan_out").GetBoolean());

            using var dst = new LoraLinear(new Linear(dev, new Rng(5), 19, 23), new LoraConfig(4, 16f, 0.1f), new Rng(60));
            var loaded = PeftAdapter.Load(dir, dst);
            Assert.Equal(4, Assert.IsType<LoraConfig>(loaded).R);
            Assert.Equal(src.LoraA.ToArray(), dst.LoraA.ToArray());
            Assert.Equal(src.LoraB.ToArray(), dst.LoraB.ToArray());

            using var wrongRank = new LoraLinear(new Linear(dev, new Rng(5), 19, 23), new LoraConfig(8, 16f, 0.1f), new Rng(60));
            var e = Assert.Throws<InvalidDataException>(() => PeftAdapter.Load(dir, wrongRank));
            Assert.Contains(PeftAdapter.ConfigFile, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Fp16BaseHalvesWeightMemoryAndMatchesFp32()
    {
        const int inF = 256, outF = 768;
        using var dev32 = new CpuBackend();
        using var dev16 = new CpuBackend();
        long before32 = dev32.Pool.LiveBytes, before16 = dev16.Pool.LiveBytes;
        using var l32 = new LoraLinear(new Linear(dev32, new Rng(10), inF, outF), new LoraConfig(), new Rng(11));
        using var l16 = new LoraLinear(new Linear(dev16, new Rng(10), inF, outF), new LoraConfig(), new Rng(11), halfBase: true);
        long w32 = dev32.Pool.LiveBytes - before32, w16 = dev16.Pool.LiveBytes - before16;
        // LoRA and bias stay fp32; the pool counts whole size classes.
        long lora = (BufferPool.SizeClass(8L * inF) + BufferPool.SizeClass(outF * 8L) + BufferPool.SizeClass(outF)) * 4;
        Assert.Equal((long)inF * outF * 4, w32 - lora);
        Assert.Equal((long)inF * outF * 2, w16 - lora);

        using var f16 = new FrozenLinear(new Linear(dev16, new Rng(10), inF, outF));
        Assert.Equal((long)inF * outF * 2, f16.Weight.Bytes);

        l32.Eval(); l16.Eval();
        var x = TestData.NonZero(new Rng(12), 4 * inF);
        using var s1 = new TensorScope();
        var y32 = l32.Forward(Tensor.FromArray(dev32, x, 4, inF)).ToArray();
        var y16 = l16.Forward(Tensor.FromArray(dev16, x, 4, inF)).ToArray();
        var yf = f16.Forward(Tensor.FromArray(dev16, x, 4, inF)).ToArray();
        // |x| < 1.5, |W| <= 1/16, 256 terms: fp16 rounding of W (rel 2^-11) moves y by well under 1e-2.
        TestData.AssertClose(y32.Select(v => (double)v).ToArray(), y16, 1e-2, 1e-3, "fp16 LoRA vs fp32");
        TestData.AssertClose(y16.Select(v => (double)v).ToArray(), yf, 1e-5, 1e-5, "FrozenLinear vs LoraLinear (B = 0)");
    }
}
