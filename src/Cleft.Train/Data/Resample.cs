namespace Cleft.Train.Data;

/// <summary>
/// Separable bilinear resampling with half-pixel centres (align_corners = false). When shrinking, the triangle
/// kernel is widened by the scale factor, i.e. antialiased bilinear as PIL's <c>Image.resize(BILINEAR)</c> does —
/// the reference pipeline resizes PIL images, and a 2,000-pixel radiograph brought to 256 with a plain
/// 2-tap bilinear would alias badly. Enlarging is ordinary 2-tap bilinear.
/// </summary>
public static class Resample
{
    public static HostImage Bilinear(HostImage src, int outHeight, int outWidth)
    {
        if (outHeight <= 0 || outWidth <= 0) throw new ArgumentOutOfRangeException(nameof(outHeight), $"output size {outHeight}x{outWidth}");
        if (outHeight == src.Height && outWidth == src.Width) return src.Clone();
        var wx = Weights(src.Width, outWidth);
        var wy = Weights(src.Height, outHeight);
        var tmp = new float[src.Height * outWidth];
        var dst = new HostImage(src.Channels, outHeight, outWidth);
        for (int c = 0; c < src.Channels; c++)
        {
            ReadOnlySpan<float> s = src.Plane(c);
            for (int y = 0; y < src.Height; y++)
                for (int x = 0; x < outWidth; x++)
                {
                    var (start, w) = wx[x];
                    float acc = 0;
                    for (int k = 0; k < w.Length; k++) acc += w[k] * s[y * src.Width + start + k];
                    tmp[y * outWidth + x] = acc;
                }
            var d = dst.Plane(c);
            for (int y = 0; y < outHeight; y++)
            {
                var (start, w) = wy[y];
                for (int x = 0; x < outWidth; x++)
                {
                    float acc = 0;
                    for (int k = 0; k < w.Length; k++) acc += w[k] * tmp[(start + k) * outWidth + x];
                    d[y * outWidth + x] = acc;
                }
            }
        }
        return dst;
    }

    /// <summary>For each output index: first source index and normalised tap weights.</summary>
    static (int Start, float[] W)[] Weights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double support = Math.Max(1.0, scale); // triangle half-width in source pixels
        var result = new (int, float[])[outSize];
        for (int o = 0; o < outSize; o++)
        {
            double centre = (o + 0.5) * scale; // in source pixel-edge coordinates
            int lo = Math.Max(0, (int)Math.Floor(centre - support));
            int hi = Math.Min(inSize - 1, (int)Math.Ceiling(centre + support));
            var w = new double[hi - lo + 1];
            double sum = 0;
            for (int i = lo; i <= hi; i++)
            {
                double t = 1.0 - Math.Abs(i + 0.5 - centre) / support;
                w[i - lo] = t > 0 ? t : 0;
                sum += w[i - lo];
            }
            if (sum <= 0) { w = [1.0]; lo = Math.Clamp((int)centre, 0, inSize - 1); sum = 1; }
            result[o] = (lo, w.Select(v => (float)(v / sum)).ToArray());
        }
        return result;
    }
}
