using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Xunit.Abstractions;

namespace Cleft.Tests.Recipe;

/// <summary>The parameter claims of docs/RECIPE.md §params, from configs alone, and agreement with an allocated tiny model.</summary>
public sealed class ParameterReportTests(ITestOutputHelper output)
{
    [Fact]
    public void PaperConfigReproducesTheClaims()
    {
        var r = ParameterReport.Compute(CleftConfig.Paper);
        output.WriteLine(r.ToString());
        Assert.Equal(2_621_440, r.Lora);                 // 32 x (8*2560 + 7680*8)
        Assert.Equal(86_583_552, r.Vision);              // DINOv2-B, HF count: 86.58M
        Assert.Equal(393_728, r.ImageProjection);        // 0.39M
        Assert.Equal(1_311_232, r.TextProjection);       // 1.31M
        Assert.Equal(65_192_448, r.BertText);            // 6-layer Bio_ClinicalBERT: 65.2M
        Assert.Equal(90.9, r.CleftTrainable / 1e6, 1);   // ~90.9M
        Assert.InRange(r.BaselineTrainable, 152_000_000, 153_000_000); // ~152M (152.56M with the heads)
        Assert.Equal(0.40, r.Reduction, 2);              // "about 40% fewer"
        Assert.Equal(0.040, r.LmRatio, 3);               // "trainable LM 4% of BERT"
    }

    [Fact]
    public void TinyModelCountsMatchTheAllocatedModel()
    {
        var config = CleftFixture.Config();
        var r = ParameterReport.Compute(config);
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        long expected = r.VisionAsTrained + r.ImageProjection + r.TextProjection + r.Lora + r.LogitScale;
        Assert.Equal(expected, model.ParameterCount(trainableOnly: true));
        Assert.Equal(expected + r.TextFrozen, model.ParameterCount());
    }
}
