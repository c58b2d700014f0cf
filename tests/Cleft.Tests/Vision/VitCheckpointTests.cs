using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels.Cpu;
using Cleft.Models.Vision;

namespace Cleft.Tests.Vision;

/// <summary>Load errors: every missing, unexpected or misshaped tensor is named, with the file; nothing half-loads.</summary>
public sealed class VitCheckpointTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("vitckpt").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The fixture's tensors with some removed, renamed or reshaped, written to a new file.</summary>
    string Variant(Func<SafetensorsWriter.Item, SafetensorsWriter.Item?> edit, params SafetensorsWriter.Item[] extra)
    {
        using var src = SafetensorsFile.Open(VitFixture.Weights);
        var items = src.Entries.Values.Select(e => edit(new SafetensorsWriter.Item(e.Name, e.Shape, src.ReadFloats(e.Name))))
            .Where(x => x is not null).Select(x => x!).Concat(extra);
        string path = Path.Combine(_dir, "variant.safetensors");
        SafetensorsWriter.Write(path, items);
        return path;
    }

    [Fact]
    public void ReportsEveryProblemByNameWithThePath()
    {
        string path = Variant(
            t => t.Name switch
            {
                "encoder.layer.1.mlp.fc1.bias" => null,                                                    // missing
                "encoder.layer.0.attention.attention.key.weight" => t with { Shape = [16, 64] },            // misshaped
                "embeddings.patch_embeddings.projection.weight" => t with { Shape = [32, 48] },             // flattened: wrong
                _ => t,
            },
            new SafetensorsWriter.Item("pooler.dense.weight", [2, 2], new float[4]));                       // unexpected
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny);
        var before = vit.Embeddings.ClsToken.ToArray();
        var ex = Assert.Throws<InvalidDataException>(() => VitCheckpoint.Load(vit, path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("missing 'encoder.layer.1.mlp.fc1.bias'", ex.Message);
        Assert.Contains("'encoder.layer.0.attention.attention.key.weight' is [16, 64], expected [32, 32]", ex.Message);
        Assert.Contains("'embeddings.patch_embeddings.projection.weight' is [32, 48], expected [32, 3, 4, 4]", ex.Message);
        Assert.Contains("unexpected 'pooler.dense.weight'", ex.Message);
        Assert.Equal(before, vit.Embeddings.ClsToken.ToArray()); // nothing was loaded
    }

    [Fact]
    public void RejectsANonSquarePositionTable()
    {
        string path = Variant(t => t.Name == "embeddings.position_embeddings" ? t with { Shape = [1, 16, 32], Data = t.Data[..(16 * 32)] } : t);
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny);
        var ex = Assert.Throws<InvalidDataException>(() => VitCheckpoint.Load(vit, path));
        Assert.Contains("'embeddings.position_embeddings' is [1, 16, 32]", ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void WrongConfigIsReportedNotGuessed()
    {
        // A model with 3 layers and 3 registers against the 2-layer, 2-register file.
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny with { Layers = 3, RegisterTokens = 3 });
        var ex = Assert.Throws<InvalidDataException>(() => VitCheckpoint.Load(vit, VitFixture.Weights));
        Assert.Contains("missing 'encoder.layer.2.norm1.weight'", ex.Message);
        Assert.Contains("'embeddings.register_tokens' is [1, 2, 32], expected [1, 3, 32]", ex.Message);
    }

    [Fact]
    public void LoadsTheMaskTokenFileWithoutComplaint()
    {
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny);
        VitCheckpoint.Load(vit, VitFixture.Weights);
        using var st = SafetensorsFile.Open(VitFixture.Weights);
        Assert.Contains("embeddings.mask_token", st.Entries.Keys);
        Assert.Equal(st.ReadFloats("embeddings.cls_token"), vit.Embeddings.ClsToken.ToArray());
    }
}

/// <summary>Input shape errors at forward time name the expected grid.</summary>
public sealed class VitInputTests
{
    [Theory]
    [InlineData(new[] { 1, 3, 20, 20 }, "built for 4 x 4 patches (16 px images)")]
    [InlineData(new[] { 1, 3, 16, 12 }, "[1,3,16,12]")]
    [InlineData(new[] { 1, 1, 16, 16 }, "[batch, 3, S, S]")]
    public void WrongPixelsAreRejected(int[] shape, string expected)
    {
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny);
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => vit.ForwardTokens(Tensor.Zeros(dev, shape)));
        Assert.Contains(expected, ex.Message);
    }
}
