using System.Collections.Concurrent;
using Cleft.Autograd;

namespace Cleft.Train.Data;

/// <summary>An image the data set skipped instead of failing on, with the reason (which names the file).</summary>
public sealed record SkippedImage(int Index, string Path, string Reason);

/// <summary>
/// A manifest plus the image pipeline: sample i -> normalised [3, crop, crop] floats, the eval transform or
/// (with an Rng) the train augmentation. By default a missing or corrupt image throws
/// <see cref="ImageLoadException"/> naming the file; with <c>skipBadImages</c> it is recorded in
/// <see cref="Skipped"/> (each file once) and the caller leaves the sample out.
/// </summary>
public sealed class ImageDataset(Manifest manifest, PreprocessOptions? preprocess = null, bool skipBadImages = false)
{
    readonly ConcurrentDictionary<int, SkippedImage> _skipped = new();

    public Manifest Manifest { get; } = manifest;
    public PreprocessOptions Preprocess { get; } = Validated(preprocess ?? PreprocessOptions.Clef);
    public bool SkipBadImages { get; } = skipBadImages;
    public int Count => Manifest.Count;
    public int SampleFloats => 3 * Preprocess.CropSize * Preprocess.CropSize;

    /// <summary>Files skipped so far, in index order.</summary>
    public IReadOnlyList<SkippedImage> Skipped => _skipped.Values.OrderBy(s => s.Index).ToList();
    public int SkippedCount => _skipped.Count;

    /// <summary>One line per skipped file, plus a count, for the end-of-epoch log; empty when nothing was skipped.</summary>
    public string SkipReport()
    {
        var skipped = Skipped;
        if (skipped.Count == 0) return "";
        return $"{Manifest.Name}: skipped {skipped.Count} of {Count} images\n" + string.Concat(skipped.Select(s => $"  #{s.Index}: {s.Reason}\n"));
    }

    static PreprocessOptions Validated(PreprocessOptions o) { o.Validate(); return o; }

    /// <summary>
    /// Loads sample <paramref name="index"/> into <paramref name="dst"/>. <paramref name="augment"/> null = eval
    /// transform. Returns false only when the image is bad and <see cref="SkipBadImages"/> is set.
    /// </summary>
    public bool TryLoad(int index, Span<float> dst, Rng? augment)
    {
        var entry = Manifest.Entries[index];
        HostImage img;
        try { img = ImageDecoder.Load(entry.ImagePath); }
        catch (ImageLoadException e) when (SkipBadImages)
        {
            _skipped.TryAdd(index, new SkippedImage(index, entry.ImagePath, e.Message));
            return false;
        }
        if (augment is null) Data.Preprocess.Eval(img, Preprocess, dst);
        else Data.Preprocess.NormalizeToRgb(Augment.Train(img, Preprocess, augment), dst);
        return true;
    }

    /// <summary>The per-sample augmentation stream: a pure function of (seed, epoch, index), independent of threads.</summary>
    public static Rng SampleRng(ulong seed, int epoch, int index) =>
        new(seed ^ ((ulong)(uint)epoch * 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)index * 0xC2B2AE3D27D4EB4FUL + 0x165667B19E3779F9UL));
}
