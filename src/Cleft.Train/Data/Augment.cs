using Cleft.Autograd;

namespace Cleft.Train.Data;

/// <summary>
/// CLEFT's train augmentation (docs/RECIPE.md §images), applied to [0, 1] images before normalisation, in this order:
/// Resize(crop) -> RandomCrop(crop) -> ColorJitter(brightness 0.2, contrast 0.2) p=0.4 ->
/// GaussianBlur 7x7 sigma U(0.1, 2) p=0.4 -> RandomAffine(±10°, translate 0.0625, scale 0.8..1.1) ->
/// horizontal flip p=0.5. Every random draw comes from the <see cref="Rng"/> passed in, so the loader gives each
/// sample its own Rng seeded from (seed, epoch, index): same seed, same pixels, whatever the thread timing.
/// </summary>
public static class Augment
{
    public const double JitterP = 0.4, BlurP = 0.4, FlipP = 0.5;
    public const float Brightness = 0.2f, Contrast = 0.2f;
    public const int BlurKernel = 7;
    public const double SigmaMin = 0.1, SigmaMax = 2.0, MaxDegrees = 10, MaxTranslate = 0.0625, ScaleMin = 0.8, ScaleMax = 1.1;

    /// <summary>Train geometry + photometric augmentation; returns a new [C, crop, crop] image in [0, 1].</summary>
    public static HostImage Train(HostImage img, PreprocessOptions o, Rng rng)
    {
        var x = Preprocess.ResizeShorterSide(Preprocess.LoadSquare(img, o), o.CropSize);
        // RandomCrop after Resize: a no-op on the square images LoadSquare makes, kept for fidelity.
        int top = rng.NextInt(x.Height - o.CropSize + 1), left = rng.NextInt(x.Width - o.CropSize + 1);
        x = Preprocess.Crop(x, top, left, o.CropSize, o.CropSize).Clone();
        if (rng.NextDouble() < JitterP) ColorJitter(x, rng);
        if (rng.NextDouble() < BlurP) x = GaussianBlur(x, Uniform(rng, SigmaMin, SigmaMax));
        x = RandomAffine(x, rng);
        if (rng.NextDouble() < FlipP) FlipHorizontal(x);
        return x;
    }

    static double Uniform(Rng rng, double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

    /// <summary>Brightness scales pixels; contrast blends with the mean gray level; both clamp to [0, 1]. Order random, as torchvision.</summary>
    public static void ColorJitter(HostImage x, Rng rng)
    {
        float b = (float)Uniform(rng, 1 - Brightness, 1 + Brightness);
        float c = (float)Uniform(rng, 1 - Contrast, 1 + Contrast);
        if (rng.NextDouble() < 0.5) { AdjustBrightness(x, b); AdjustContrast(x, c); }
        else { AdjustContrast(x, c); AdjustBrightness(x, b); }
    }

    public static void AdjustBrightness(HostImage x, float factor)
    {
        var d = x.Data;
        for (int i = 0; i < d.Length; i++) d[i] = Math.Clamp(d[i] * factor, 0f, 1f);
    }

    public static void AdjustContrast(HostImage x, float factor)
    {
        double mean = 0;
        int n = x.Height * x.Width;
        if (x.Channels == 1) foreach (float v in x.Data) mean += v;
        else for (int i = 0; i < n; i++) mean += 0.299 * x.Data[i] + 0.587 * x.Data[n + i] + 0.114 * x.Data[2 * n + i]; // luma, as torchvision
        float m = (float)(mean / n);
        var d = x.Data;
        for (int i = 0; i < d.Length; i++) d[i] = Math.Clamp(m + factor * (d[i] - m), 0f, 1f);
    }

    /// <summary>Separable 7x7 Gaussian, reflect padding (torchvision's).</summary>
    public static HostImage GaussianBlur(HostImage x, double sigma)
    {
        int r = BlurKernel / 2;
        var k = new float[BlurKernel];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += Math.Exp(-0.5 * i * i / (sigma * sigma));
        for (int i = -r; i <= r; i++) k[i + r] = (float)(Math.Exp(-0.5 * i * i / (sigma * sigma)) / sum);
        int h = x.Height, w = x.Width;
        var tmp = new float[h * w];
        var dst = new HostImage(x.Channels, h, w);
        for (int c = 0; c < x.Channels; c++)
        {
            ReadOnlySpan<float> s = x.Plane(c);
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    float acc = 0;
                    for (int t = -r; t <= r; t++) acc += k[t + r] * s[y * w + Reflect(xx + t, w)];
                    tmp[y * w + xx] = acc;
                }
            var d = dst.Plane(c);
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    float acc = 0;
                    for (int t = -r; t <= r; t++) acc += k[t + r] * tmp[Reflect(y + t, h) * w + xx];
                    d[y * w + xx] = acc;
                }
        }
        return dst;
    }

    static int Reflect(int i, int n)
    {
        if (n == 1) return 0;
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    }

    /// <summary>
    /// Rotation about the centre, scale and integer translation (torchvision rounds it); inverse-mapped with
    /// nearest-neighbour sampling (torchvision's default) and zero fill outside the source.
    /// </summary>
    public static HostImage RandomAffine(HostImage x, Rng rng)
    {
        double angle = Uniform(rng, -MaxDegrees, MaxDegrees);
        double maxDx = MaxTranslate * x.Width, maxDy = MaxTranslate * x.Height;
        double tx = Math.Round(Uniform(rng, -maxDx, maxDx)), ty = Math.Round(Uniform(rng, -maxDy, maxDy));
        double scale = Uniform(rng, ScaleMin, ScaleMax);
        return Affine(x, angle, tx, ty, scale);
    }

    public static HostImage Affine(HostImage x, double degrees, double tx, double ty, double scale)
    {
        int h = x.Height, w = x.Width;
        double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5, a = degrees * Math.PI / 180;
        double cos = Math.Cos(a) / scale, sin = Math.Sin(a) / scale;
        var dst = new HostImage(x.Channels, h, w);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
            {
                // output -> source: undo translation, then rotation and scale about the centre
                double dx = xx - cx - tx, dy = y - cy - ty;
                int sx = (int)Math.Round(cos * dx + sin * dy + cx), sy = (int)Math.Round(-sin * dx + cos * dy + cy);
                if ((uint)sx >= (uint)w || (uint)sy >= (uint)h) continue;
                for (int c = 0; c < x.Channels; c++) dst.Data[(c * h + y) * w + xx] = x.Data[(c * h + sy) * w + sx];
            }
        return dst;
    }

    public static void FlipHorizontal(HostImage x)
    {
        for (int c = 0; c < x.Channels; c++)
            for (int y = 0; y < x.Height; y++) x.Data.AsSpan((c * x.Height + y) * x.Width, x.Width).Reverse();
    }
}
