namespace Cleft.Models.Vision;

/// <summary>
/// Resamples a checkpoint's patch position table to another grid on the host, once at load time, the way HF's
/// Dinov2WithRegisters interpolate_pos_encoding does on every forward: torch.nn.functional.interpolate(mode
/// "bicubic", align_corners False, antialias True). With antialias torch uses a separable PIL-style filter:
/// cubic kernel with a = -0.5 (not the -0.75 of plain bicubic), widened by the scale when shrinking
/// (37 -> 16 for DINOv2 at 224 px), weights normalised per output pixel. Computed in float64.
/// </summary>
public static class PositionInterpolation
{
    /// <summary>[src*src, dim] row-major (patch-major, as HF's position_embeddings[0, 1:]) -> [dst*dst, dim].</summary>
    public static float[] Resample(ReadOnlySpan<float> table, int src, int dst, int dim)
    {
        if (src <= 0 || dst <= 0 || dim <= 0 || table.Length != (long)src * src * dim)
            throw new ArgumentException($"PositionInterpolation: table of {table.Length} values is not a {src}x{src} grid of {dim}");
        var w = Weights(src, dst);
        // Rows (y) then columns (x); the filter is separable.
        var tmp = new double[dst * src * dim];
        for (int oy = 0; oy < dst; oy++)
            foreach (var (iy, wy) in w[oy])
                for (int x = 0; x < src; x++)
                    for (int c = 0; c < dim; c++)
                        tmp[((long)oy * src + x) * dim + c] += wy * table[(iy * src + x) * dim + c];
        var result = new float[dst * dst * dim];
        for (int oy = 0; oy < dst; oy++)
            for (int ox = 0; ox < dst; ox++)
                for (int c = 0; c < dim; c++)
                {
                    double s = 0;
                    foreach (var (ix, wx) in w[ox]) s += wx * tmp[((long)oy * src + ix) * dim + c];
                    result[((long)oy * dst + ox) * dim + c] = (float)s;
                }
        return result;
    }

    /// <summary>For each output index, the (input index, weight) pairs of torch's antialiased bicubic along one axis.</summary>
    static (int Index, double Weight)[][] Weights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;                 // align_corners False, explicit size
        double support = scale >= 1 ? 2.0 * scale : 2.0;         // bicubic interp_size 4, half-width 2
        double invScale = scale >= 1 ? 1.0 / scale : 1.0;
        var all = new (int, double)[outSize][];
        for (int i = 0; i < outSize; i++)
        {
            double center = scale * (i + 0.5);
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize);
            var ws = new List<(int, double)>();
            double total = 0;
            for (int j = xmin; j < xmax; j++)
            {
                double v = Cubic((j - center + 0.5) * invScale);
                ws.Add((j, v));
                total += v;
            }
            all[i] = ws.Select(x => (x.Item1, total != 0 ? x.Item2 / total : x.Item2)).ToArray();
        }
        return all;
    }

    /// <summary>Keys' cubic convolution kernel with a = -0.5 (torch's antialias path, as PIL).</summary>
    static double Cubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }
}
