using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class LoaderTests
{
    static readonly PreprocessOptions Small = new(LoadSize: 64, CropSize: 56);

    [Fact]
    public void MissingAndCorruptImagesNameTheFile()
    {
        using var dir = new TempDir();
        string missing = dir.File("nope.png");
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(missing));
        Assert.Contains("nope.png", e.Message);
        Assert.Contains("not found", e.Message);

        string garbage = dir.Write("garbage.png", "this is not an image");
        Assert.Contains("garbage.png", Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(garbage)).Message);
        string empty = dir.Write("empty.jpg", "");
        Assert.Contains("empty.jpg", Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(empty)).Message);

        var ms = new MemoryStream();
        PngWriter.WriteGray(ms, new byte[32 * 32], 32, 32);
        string truncated = dir.File("truncated.png");
        File.WriteAllBytes(truncated, ms.ToArray()[..40]);
        Assert.Contains("truncated.png", Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(truncated)).Message);
    }

    [Fact]
    public void SyntheticSetRoundTripsThroughTheLoader()
    {
        using var dir = new TempDir();
        var log = new StringWriter();
        string csv = SyntheticChest.Generate(dir.Path, 20, seed: 5, size: 48, log);
        Assert.Contains("synth: 20/20 images", log.ToString());
        var m = ChexpertManifest.Load(csv);
        Assert.Equal(20, m.Count);
        Assert.All(m.Entries, en => Assert.InRange(en.Label, 0, 4));   // every synthetic image has a 5x200 class
        Assert.All(m.Entries, en => Assert.StartsWith(ChexpertManifest.CaptionPrefix, en.Caption));
        Assert.True(m.Labels().Distinct().Count() >= 3);

        // same seed -> byte-identical files; another seed -> different
        using var dir2 = new TempDir();
        SyntheticChest.Generate(dir2.Path, 20, seed: 5, size: 48);
        Assert.Equal(File.ReadAllBytes(csv), File.ReadAllBytes(Path.Combine(dir2.Path, SyntheticChest.ManifestName)));
        Assert.Equal(File.ReadAllBytes(m.Entries[7].ImagePath), File.ReadAllBytes(Path.Combine(dir2.Path, "images", "000007.png")));

        var loader = new DataLoader(new ImageDataset(m, Small), new LoaderOptions(BatchSize: 8, Shuffle: true, Seed: 3));
        var batches = loader.Epoch(0).ToList();
        Assert.Equal([8, 8, 4], batches.Select(b => b.Count));
        Assert.Equal(Enumerable.Range(0, 20), batches.SelectMany(b => b.Indices).Order());    // each sample once
        Assert.Equal(loader.Order(0), batches.SelectMany(b => b.Indices));                   // prefetch keeps order
        Assert.Equal(8 * 3 * 56 * 56, batches[0].Pixels.Length);
        Assert.All(batches[0].Pixels, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(m.Entries[batches[1].Indices[2]].Caption, batches[1].Captions[2]);
        Assert.Equal(m.Entries[batches[1].Indices[2]].Label, batches[1].Labels[2]);

        // an eval batch equals the single-image eval transform
        var one = new float[3 * 56 * 56];
        Preprocess.Eval(ImageDecoder.Load(m.Entries[batches[0].Indices[1]].ImagePath), Small, one);
        Assert.Equal(one, batches[0].Pixels.AsSpan(one.Length, one.Length).ToArray());

        Assert.NotEqual(loader.Order(0), loader.Order(1));
        Assert.Equal(loader.Order(1), new DataLoader(new ImageDataset(m, Small), new LoaderOptions(8, Seed: 3)).Order(1));
    }

    [Fact]
    public void AugmentedBatchesAreDeterministicAcrossThreads()
    {
        using var dir = new TempDir();
        var m = ChexpertManifest.Load(SyntheticChest.Generate(dir.Path, 12, seed: 9, size: 40));
        float[] Run(int workers) => new DataLoader(new ImageDataset(m, Small), new LoaderOptions(6, Seed: 1, Augment: true, Workers: workers))
            .Epoch(2).SelectMany(b => b.Pixels).ToArray();
        var a = Run(2);
        Assert.Equal(a, Run(1));
        var eval = new DataLoader(new ImageDataset(m, Small), new LoaderOptions(6, Seed: 1)).Epoch(2).SelectMany(b => b.Pixels).ToArray();
        Assert.NotEqual(eval, a);
    }

    [Fact]
    public void BadImagesFailOrAreSkippedAndCounted()
    {
        using var dir = new TempDir();
        string csv = SyntheticChest.Generate(dir.Path, 10, seed: 2, size: 32);
        File.Delete(Path.Combine(dir.Path, "images", "000003.png"));
        File.WriteAllText(Path.Combine(dir.Path, "images", "000006.png"), "corrupt");
        var m = ChexpertManifest.Load(csv);

        var strict = new DataLoader(new ImageDataset(m, Small), new LoaderOptions(4, Shuffle: false));
        var e = Assert.Throws<ImageLoadException>(() => strict.Epoch(0).ToList());
        Assert.Contains("000003.png", e.Message);

        var ds = new ImageDataset(m, Small, skipBadImages: true);
        var batches = new DataLoader(ds, new LoaderOptions(4, Shuffle: false)).Epoch(0).ToList();
        Assert.Equal([3, 3, 2], batches.Select(b => b.Count)); // 0..3 lose #3, 4..7 lose #6
        Assert.DoesNotContain(3, batches.SelectMany(b => b.Indices));
        Assert.Equal(3 * 3 * 56 * 56, batches[1].Pixels.Length);
        Assert.Equal(2, ds.SkippedCount);
        Assert.Equal([3, 6], ds.Skipped.Select(s => s.Index));
        Assert.Contains("000006.png", ds.Skipped[1].Reason);
        Assert.StartsWith("manifest.csv: skipped 2 of 10 images\n  #3: cannot load image", ds.SkipReport());
        Assert.Equal("", new ImageDataset(m, Small, skipBadImages: true).SkipReport());
    }

    [Fact]
    public void BatchesWhoseImagesAreAllSkippedAreDroppedAndCounted()
    {
        using var dir = new TempDir();
        var m = ChexpertManifest.Load(SyntheticChest.Generate(dir.Path, 14, seed: 6, size: 32));
        var options = new LoaderOptions(4, Shuffle: true, Seed: 8);
        var order = new DataLoader(new ImageDataset(m, Small), options).Order(0);
        foreach (int i in order[4..8].Append(order[12])) File.WriteAllText(m.Entries[i].ImagePath, "corrupt");  // all of batch 1, half of batch 3

        var loader = new DataLoader(new ImageDataset(m, Small, skipBadImages: true), options);
        var batches = loader.Epoch(0).ToList();
        Assert.Equal([4, 4, 1], batches.Select(b => b.Count));
        Assert.Equal(order[..4].Concat(order[8..12]).Append(order[13]), batches.SelectMany(b => b.Indices));   // order kept
        Assert.Equal(1, loader.DroppedBatches);
        Assert.Equal(5, loader.Dataset.SkippedCount);
        Assert.Equal(3, loader.Epoch(0).Count());
        Assert.Equal(2, loader.DroppedBatches);     // counted over epochs
    }

    [Fact]
    public void StoppingEarlyEndsTheProducer()
    {
        using var dir = new TempDir();
        var m = ChexpertManifest.Load(SyntheticChest.Generate(dir.Path, 30, seed: 4, size: 32));
        var loader = new DataLoader(new ImageDataset(m, Small), new LoaderOptions(2, Prefetch: 1));
        var first = loader.Epoch(0).First();              // 15 batches, bounded queue of 1: must not hang
        Assert.Equal(2, first.Count);
        Assert.Equal(loader.Order(0)[..2], first.Indices);
        Assert.Equal(2, loader.Epoch(0).Take(2).Count());
        Assert.Throws<ArgumentException>(() => new DataLoader(new ImageDataset(m, Small), new LoaderOptions(0)));
    }

    [Fact]
    public void SplitsAreSeededNestedAndDisjoint()
    {
        var (train, val) = Splits.TrainVal(100, 0.2, seed: 7);
        Assert.Equal(20, val.Length);
        Assert.Equal(Enumerable.Range(0, 100), train.Concat(val).Order());
        Assert.Equal(val, Splits.TrainVal(100, 0.2, seed: 7).Val);
        Assert.NotEqual(val, Splits.TrainVal(100, 0.2, seed: 8).Val);

        var p1 = Splits.Fraction(1000, 0.01); var p10 = Splits.Fraction(1000, 0.10); var p100 = Splits.Fraction(1000, 1.0);
        Assert.Equal((10, 100, 1000), (p1.Length, p10.Length, p100.Length));
        Assert.Subset(p10.ToHashSet(), p1.ToHashSet());
        Assert.Equal(p1, Splits.Fraction(1000, 0.01, Splits.ProbeSeed));
        Assert.Single(Splits.Fraction(30, 0.01));   // never empty

        var m = new Manifest("m", Enumerable.Range(0, 200).Select(i => new ManifestEntry($"/x/{i}.png", "c", i % 5, i + 2)).ToList(), ["a", "b", "c", "d", "e"]);
        var tenth = m.Fraction(0.1);
        Assert.Equal("m/10%", tenth.Name);
        Assert.Equal(Splits.Fraction(200, 0.1).Select(i => $"/x/{i}.png"), tenth.Entries.Select(e => e.ImagePath));
    }
}
