using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Gpt2;
using Cleft.Tests.Autograd;
using Xunit.Abstractions;

namespace Cleft.Tests.Gpt2;

/// <summary>
/// The tiny GPT-2 against HF's forward written in PyTorch (float64 reference, fp32 here). Tolerances, tighter
/// than llm.c's 1e-2 since the model is tiny and the reference exact: hidden states and features 1e-4 abs +
/// 1e-4 rel; LoRA gradients 1e-4 abs + 1e-3 rel. The observed maxima are written to the test output.
/// </summary>
public sealed class Gpt2TorchParityTests(ITestOutputHelper output)
{
    const double Atol = 1e-4, Rtol = 1e-4, GradAtol = 1e-4, GradRtol = 1e-3;

    [Fact]
    public void HiddenStatesAndEosFeaturesMatchPyTorch()
    {
        var r = Gpt2Fixture.Ref;
        using var dev = new CpuBackend();
        using var model = Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options(), new Rng(1));
        using var batch = Gpt2Fixture.Batch(dev);
        Assert.Equal(r.eos_positions, batch.EosPositions);
        using var scope = new TensorScope();
        var hidden = model.Forward(batch.Ids, batch.Mask);
        Assert.Equal([r.batch, r.seq, model.Config.NEmbd], hidden.Shape);
        var h = hidden.ToArray();
        output.WriteLine($"hidden max |diff| {Gpt2Fixture.MaxAbsDiff(r.hidden, h):E2}");
        TestData.AssertClose(r.hidden, h, Atol, Rtol, "hidden after ln_f");

        using var encoder = new Gpt2TextEncoder(Gpt2Checkpoint.Load(dev, Gpt2Fixture.Directory, new Gpt2Options(), new Rng(1)), new Rng(2), 16);
        var f = encoder.Features(batch).ToArray();
        output.WriteLine($"features max |diff| {Gpt2Fixture.MaxAbsDiff(r.features, f):E2}");
        TestData.AssertClose(r.features, f, Atol, Rtol, "EOS features");
        Assert.Equal([r.batch, 16], encoder.Forward(batch).Shape);
    }

    [Fact]
    public void WithoutInverseLayerScalingMatchesPyTorch()
    {
        var r = Gpt2Fixture.Ref;
        using var dev = new CpuBackend();
        using var model = new Gpt2Model(dev, Gpt2Fixture.Config with { ScaleAttnByInverseLayerIdx = false }, new Gpt2Options(), new Rng(1));
        Gpt2Checkpoint.LoadWeights(model, Gpt2Fixture.WeightsPath);
        using var encoder = new Gpt2TextEncoder(model, new Rng(2));
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var f = encoder.Features(batch).ToArray();
        output.WriteLine($"features (no layer scaling) max |diff| {Gpt2Fixture.MaxAbsDiff(r.features_no_layer_scale, f):E2}");
        TestData.AssertClose(r.features_no_layer_scale, f, Atol, Rtol, "EOS features without 1/(layer_idx+1)");
        Assert.True(Gpt2Fixture.MaxAbsDiff(r.features, f) > 1e-3, "the layer scaling should change the features");
    }

    [Fact]
    public void LoraGradientsMatchPyTorch()
    {
        var r = Gpt2Fixture.Ref;
        using var dev = new CpuBackend();
        using var model = Gpt2Fixture.LoadWithLora(dev);
        using var encoder = new Gpt2TextEncoder(model, new Rng(2));
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var features = encoder.Features(batch);
        output.WriteLine($"LoRA features max |diff| {Gpt2Fixture.MaxAbsDiff(r.features_lora, features.ToArray()):E2}");
        TestData.AssertClose(r.features_lora, features, Atol, Rtol, "EOS features with LoRA");
        features.Backward(Tensor.FromArray(dev, r.cotangent.Select(v => (float)v).ToArray(), features.Shape));
        var named = model.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        foreach (var (name, expected) in r.lora_grads)
        {
            var g = named[name].Grad!.ToArray();
            output.WriteLine($"grad {name} max |diff| {Gpt2Fixture.MaxAbsDiff(expected, g):E2} (max |grad| {expected.Max(Math.Abs):F3})");
            TestData.AssertClose(expected, g, GradAtol, GradRtol, $"grad {name}");
        }
    }
}
