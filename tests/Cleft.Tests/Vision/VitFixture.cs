using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cleft.Tests.Vision;

/// <summary>The tiny model written by tests/fixtures/generators/vit_tiny.py (HF-faithful plain-torch forward, float64).</summary>
public sealed record VitFixture(
    [property: JsonPropertyName("image_size")] int ImageSize,
    [property: JsonPropertyName("embed_dim")] int EmbedDim,
    [property: JsonPropertyName("pixels")] float[] Pixels,
    [property: JsonPropertyName("pixels_shape")] int[] PixelsShape,
    [property: JsonPropertyName("tokens")] float[] Tokens,
    [property: JsonPropertyName("tokens_shape")] int[] TokensShape,
    [property: JsonPropertyName("normed")] float[] Normed,
    [property: JsonPropertyName("embedding")] float[] Embedding,
    [property: JsonPropertyName("loss_w")] float[] LossW,
    [property: JsonPropertyName("proj_weight")] float[] ProjWeight,
    [property: JsonPropertyName("proj_bias")] float[] ProjBias,
    [property: JsonPropertyName("grad_pixels")] float[] GradPixels,
    [property: JsonPropertyName("grads")] Dictionary<string, float[]> Grads,
    [property: JsonPropertyName("grad_proj_weight")] float[] GradProjWeight,
    [property: JsonPropertyName("pixels24")] float[] Pixels24,
    [property: JsonPropertyName("tokens24")] float[] Tokens24,
    [property: JsonPropertyName("table7")] float[] Table7,
    [property: JsonPropertyName("table3")] float[] Table3)
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "vit_tiny");
    public static string Weights => Path.Combine(Dir, "model.safetensors");
    public static string Config => Path.Combine(Dir, "config.json");

    static readonly Lazy<VitFixture> Cached = new(() =>
        JsonSerializer.Deserialize<VitFixture>(File.ReadAllText(Path.Combine(Dir, "vit_tiny.json")))!);

    public static VitFixture Load() => Cached.Value;

    /// <summary>|a - e| &lt;= atol + rtol |e| everywhere; returns the largest |a - e| seen (reported by the tests).</summary>
    public static double AssertClose(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            worst = Math.Max(worst, err);
            Assert.True(err <= atol + rtol * Math.Abs(expected[i]), $"{what}[{i}]: ours {actual[i]:R}, torch {expected[i]:R} (atol {atol}, rtol {rtol})");
        }
        return worst;
    }

    /// <summary>[rows, cols] -> [cols, rows] (HF nn.Linear [out, in] against our [in, out]).</summary>
    public static float[] Transpose(float[] v, int rows, int cols)
    {
        var t = new float[v.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = v[r * cols + c];
        return t;
    }
}
