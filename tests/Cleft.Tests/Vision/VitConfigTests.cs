using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Vision;

namespace Cleft.Tests.Vision;

/// <summary>config.json parsing, validation errors naming the file, and parameter counts from configs alone.</summary>
public sealed class VitConfigTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("vitcfg").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string json)
    {
        string path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ParsesTheFixtureConfig()
    {
        var c = VitConfig.FromJson(VitFixture.Config);
        Assert.Equal(VitConfig.Tiny, c);
        Assert.Equal(19, c.Tokens());
    }

    [Fact]
    public void ParsesAHuggingFaceBaseConfig()
    {
        // The fields of facebook/dinov2-with-registers-base's config.json that matter here.
        var c = VitConfig.FromJson(Write("""
            {"model_type": "dinov2_with_registers", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "mlp_ratio": 4, "patch_size": 14, "image_size": 518, "num_channels": 3, "num_register_tokens": 4,
             "hidden_act": "gelu", "layer_norm_eps": 1e-06, "layerscale_value": 1.0, "qkv_bias": true, "use_swiglu_ffn": false,
             "out_features": ["stage12"], "stage_names": ["stem"], "torch_dtype": "float32"}
            """));
        Assert.Equal(VitConfig.Dinov2WithRegistersBase, c);
        Assert.Equal(16, c.Grid(224));
        Assert.Equal(261, c.Tokens(224));
    }

    [Theory]
    [InlineData("""{"model_type": "gpt2"}""", "model_type 'gpt2'")]
    [InlineData("""{"hidden_size": 30, "num_attention_heads": 4}""", "not a multiple of num_attention_heads")]
    [InlineData("""{"image_size": 20, "patch_size": 14}""", "image_size 20 is not a multiple of patch_size 14")]
    [InlineData("""{"use_swiglu_ffn": true}""", "use_swiglu_ffn")]
    [InlineData("""{"hidden_act": "relu"}""", "hidden_act 'relu'")]
    [InlineData("""{"hidden_size": "768"}""", "hidden_size must be an integer")]
    [InlineData("""{"image_size": [224, 196]}""", "not square")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{"hidden_size": """, "not valid JSON")]
    public void ErrorsNameTheFileAndTheField(string json, string expected)
    {
        string path = Write(json);
        var ex = Assert.Throws<InvalidDataException>(() => VitConfig.FromJson(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void BaseParameterCountIs86_58M()
    {
        var c = VitConfig.Dinov2WithRegistersBase;
        Assert.Equal(86_583_552, VitParameterCount.Backbone(c));                   // HF's count, mask token included
        Assert.Equal(86.58, Math.Round(VitParameterCount.Backbone(c) / 1e6, 2));
        // CLEFT's tower at 224 px: 257 positions instead of 1370, no mask token, + Linear(768, 512).
        long at224 = VitParameterCount.ImageEncoder(c, 512, 224);
        Assert.Equal(86_583_552 - 768 - (1370 - 257) * 768 + 768 * 512 + 512, at224);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(24)]
    public void ModuleCountAgreesWithConfigArithmetic(int? imageSize)
    {
        var c = VitConfig.Tiny;
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), c, imageSize);
        Assert.Equal(VitParameterCount.Backbone(c, imageSize, includeMaskToken: false), vit.ParameterCount());
        using var enc = new VitImageEncoder(dev, new Rng(1), c, imageSize ?? 16, 512);
        Assert.Equal(VitParameterCount.ImageEncoder(c, 512, imageSize ?? 16), enc.ParameterCount());
    }

    [Fact]
    public void ParameterNamesAreHuggingFaces()
    {
        using var dev = new CpuBackend();
        using var vit = new VisionTransformer(dev, new Rng(1), VitConfig.Tiny);
        var names = vit.NamedParameters().Select(x => x.Name).ToHashSet();
        foreach (var n in new[] { "embeddings.cls_token", "embeddings.register_tokens", "embeddings.position_embeddings",
                     "embeddings.patch_embeddings.projection.weight", "encoder.layer.1.attention.attention.query.bias",
                     "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.layer_scale1.lambda1",
                     "encoder.layer.1.mlp.fc2.weight", "encoder.layer.1.norm2.bias", "layernorm.weight" })
            Assert.Contains(n, names);
    }
}
