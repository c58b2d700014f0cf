using Cleft.Train.Data;
using Cleft.Train.Metrics;

namespace Cleft.Tests.Data;

public sealed class SyntheticTests
{
    /// <summary>
    /// The synthetic findings must be learnable from pixels: a nearest-class-mean classifier on the loader's
    /// eval tensors, fitted on 150 images, must beat chance (0.2) by far on 50 held-out ones.
    /// </summary>
    [Fact]
    public void FindingsAreLearnableFromPixels()
    {
        using var dir = new TempDir();
        var m = ChexpertManifest.Load(SyntheticChest.Generate(dir.Path, 200, seed: 11, size: 32));
        var ds = new ImageDataset(m, new PreprocessOptions(LoadSize: 32, CropSize: 32));
        var (train, test) = Splits.TrainVal(m.Count, 0.25, seed: 42);
        var x = new DataLoader(ds, new LoaderOptions(64, Shuffle: false)).Epoch(0).SelectMany(b => b.Pixels).ToArray();
        int d = ds.SampleFloats, k = 5;
        var labels = m.Labels();
        var mean = new double[k * d];
        var n = new int[k];
        foreach (int i in train) { n[labels[i]]++; for (int j = 0; j < d; j++) mean[labels[i] * d + j] += x[i * d + j]; }
        for (int c = 0; c < k; c++) for (int j = 0; j < d; j++) mean[c * d + j] /= Math.Max(1, n[c]);
        var pred = test.Select(i => Enumerable.Range(0, k).MinBy(c =>
        {
            double s = 0;
            for (int j = 0; j < d; j++) { double diff = x[i * d + j] - mean[c * d + j]; s += diff * diff; }
            return s;
        })).ToArray();
        double acc = Classification.Accuracy(test.Select(i => labels[i]).ToArray(), pred);
        Assert.True(acc > 0.8, $"nearest-mean accuracy {acc} on the synthetic set");
    }

    [Fact]
    public void CommandLineWritesTheSet()
    {
        using var dir = new TempDir();
        var stdout = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        int rc;
        try { rc = Cleft.Train.Program.Main(["synth", "--out", dir.Path, "--count", "4", "--seed", "3", "--size", "24"]); }
        finally { Console.SetOut(stdout); }
        Assert.Equal(0, rc);
        Assert.Contains("synth: 4/4 images", sw.ToString());
        Assert.Equal(4, ChexpertManifest.Load(Path.Combine(dir.Path, SyntheticChest.ManifestName)).Count);
        Assert.Equal(24, ImageDecoder.Load(Path.Combine(dir.Path, "images", "000003.png")).Width);
    }
}
