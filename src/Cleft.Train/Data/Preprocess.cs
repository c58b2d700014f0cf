namespace Cleft.Train.Data;

/// <summary>
/// Sizes of the loading pipeline and the train augmentation's steps (<see cref="Augment"/>). CLEFT: longest side
/// 256, square pad, 224 crop; every step on at the recipe's probability.
/// </summary>
public sealed record PreprocessOptions(int LoadSize = 256, int CropSize = 224)
{
    public static readonly PreprocessOptions Clef = new();

    /// <summary>Random crop position (off or not fired: centred). Probability 1: always.</summary>
    public AugmentStep RandomCrop { get; init; } = new(1);
    /// <summary>Brightness and contrast jitter (the intensity augmentation).</summary>
    public AugmentStep ColorJitter { get; init; } = new(Augment.JitterP);
    public AugmentStep GaussianBlur { get; init; } = new(Augment.BlurP);
    /// <summary>Rotation, translation and scale. Probability 1: always, as torchvision's RandomAffine.</summary>
    public AugmentStep RandomAffine { get; init; } = new(1);
    public AugmentStep HorizontalFlip { get; init; } = new(Augment.FlipP);

    public void Validate()
    {
        if (LoadSize <= 0 || CropSize <= 0) throw new ArgumentException($"image sizes must be positive (load {LoadSize}, crop {CropSize})");
        foreach (var (name, step) in new[] { ("RandomCrop", RandomCrop), ("ColorJitter", ColorJitter), ("GaussianBlur", GaussianBlur),
                     ("RandomAffine", RandomAffine), ("HorizontalFlip", HorizontalFlip) })
        {
            if (step is null) throw new ArgumentException($"augmentation {name}: step is null");
            if (!(step.Probability is >= 0 and <= 1)) throw new ArgumentException($"augmentation {name}: probability must lie in [0, 1], got {step.Probability}");
        }
    }
}

/// <summary>
/// The deterministic half of CLEFT's image pipeline (docs/RECIPE.md §images): scale the longest side to
/// <c>LoadSize</c> keeping aspect, zero-pad to a square (centred: the content stays in the middle, so a
/// centre crop never cuts one side only), resize to <c>CropSize</c> and centre-crop (a no-op once square, kept
/// for non-square inputs), normalise (x - 0.5) / 0.5, and replicate gray to 3 channels.
/// </summary>
public static class Preprocess
{
    public static HostImage ScaleLongestSide(HostImage img, int size)
    {
        int longest = Math.Max(img.Height, img.Width);
        int h = Math.Max(1, (int)Math.Round((double)img.Height * size / longest));
        int w = Math.Max(1, (int)Math.Round((double)img.Width * size / longest));
        return Resample.Bilinear(img, h, w);
    }

    /// <summary>Zero padding (black, which is -1 after normalisation) around a centred image; odd extra pixel goes right/bottom.</summary>
    public static HostImage PadToSquare(HostImage img)
    {
        int s = Math.Max(img.Height, img.Width);
        if (img.Height == s && img.Width == s) return img;
        int top = (s - img.Height) / 2, left = (s - img.Width) / 2;
        var dst = new HostImage(img.Channels, s, s);
        for (int c = 0; c < img.Channels; c++)
            for (int y = 0; y < img.Height; y++)
                img.Data.AsSpan((c * img.Height + y) * img.Width, img.Width).CopyTo(dst.Data.AsSpan((c * s + top + y) * s + left));
        return dst;
    }

    /// <summary>torchvision Resize(int): the SHORTER side becomes <paramref name="size"/>.</summary>
    public static HostImage ResizeShorterSide(HostImage img, int size)
    {
        int shorter = Math.Min(img.Height, img.Width);
        int h = (int)Math.Round((double)img.Height * size / shorter), w = (int)Math.Round((double)img.Width * size / shorter);
        return Resample.Bilinear(img, Math.Max(h, size), Math.Max(w, size));
    }

    public static HostImage Crop(HostImage img, int top, int left, int height, int width)
    {
        if (top < 0 || left < 0 || top + height > img.Height || left + width > img.Width)
            throw new ArgumentOutOfRangeException(nameof(top), $"crop {height}x{width} at ({top},{left}) outside {img.Height}x{img.Width}");
        if (top == 0 && left == 0 && height == img.Height && width == img.Width) return img;
        var dst = new HostImage(img.Channels, height, width);
        for (int c = 0; c < img.Channels; c++)
            for (int y = 0; y < height; y++)
                img.Data.AsSpan((c * img.Height + top + y) * img.Width + left, width).CopyTo(dst.Data.AsSpan((c * height + y) * width));
        return dst;
    }

    public static HostImage CenterCrop(HostImage img, int size) =>
        Crop(img, (img.Height - size) / 2, (img.Width - size) / 2, size, size);

    /// <summary>Scale + pad: the cached "load" step shared by eval and train pipelines.</summary>
    public static HostImage LoadSquare(HostImage img, PreprocessOptions o) => PadToSquare(ScaleLongestSide(img, o.LoadSize));

    /// <summary>Eval pipeline up to (not including) normalisation: values still in [0, 1].</summary>
    public static HostImage EvalGeometry(HostImage img, PreprocessOptions o) =>
        CenterCrop(ResizeShorterSide(LoadSquare(img, o), o.CropSize), o.CropSize);

    /// <summary>Writes normalised (x - 0.5) / 0.5 values as 3 channels into <paramref name="dst"/> (length 3*H*W); gray is copied to R, G and B.</summary>
    public static void NormalizeToRgb(HostImage img, Span<float> dst)
    {
        int n = img.Height * img.Width;
        if (dst.Length != 3 * n) throw new ArgumentException($"destination length {dst.Length} != 3x{img.Height}x{img.Width}", nameof(dst));
        for (int c = 0; c < 3; c++)
        {
            ReadOnlySpan<float> s = img.Plane(img.Channels == 1 ? 0 : c);
            var d = dst.Slice(c * n, n);
            for (int i = 0; i < n; i++) d[i] = (s[i] - 0.5f) / 0.5f;
        }
    }

    /// <summary>Full eval transform: decoded image -> normalised [3, CropSize, CropSize] in <paramref name="dst"/>.</summary>
    public static void Eval(HostImage img, PreprocessOptions o, Span<float> dst) => NormalizeToRgb(EvalGeometry(img, o), dst);
}
