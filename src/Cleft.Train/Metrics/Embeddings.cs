namespace Cleft.Train.Metrics;

static class Embeddings
{
    /// <summary>Rows of an [rows, dim] float matrix scaled to unit L2 norm, in double (a zero row stays zero),
    /// so cosines do not depend on the caller having normalised, nor on float summation order.</summary>
    internal static double[] Normalised(ReadOnlySpan<float> x, int rows, int dim)
    {
        var r = new double[rows * dim];
        for (int i = 0; i < rows; i++)
        {
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double)x[i * dim + j] * x[i * dim + j];
            if (!double.IsFinite(ss)) throw new ArgumentException($"embedding row {i} has a non-finite value");
            double inv = ss > 0 ? 1 / Math.Sqrt(ss) : 0;
            for (int j = 0; j < dim; j++) r[i * dim + j] = x[i * dim + j] * inv;
        }
        return r;
    }
}
