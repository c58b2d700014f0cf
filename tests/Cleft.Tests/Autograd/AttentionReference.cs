namespace Cleft.Tests.Autograd;

/// <summary>
/// Attention straight from the definition in float64, materialising the full T x T probabilities (what the
/// fused kernels must never do): forward o and row log-sum-exp, and the backward for an output gradient g.
/// A query with no visible key gives o = 0, lse = +inf and zero gradients.
/// </summary>
public static class AttentionReference
{
    public sealed record Result(double[] O, double[] Lse, double[] Dq, double[] Dk, double[] Dv);

    public static Result Run(float[] q, float[] k, float[] v, int[]? mask, float[]? g, int B, int H, int T, int D, bool causal, double scale)
    {
        var o = new double[q.Length]; var lse = new double[B * H * T];
        var dq = new double[q.Length]; var dk = new double[q.Length]; var dv = new double[q.Length];
        var p = new double[T]; var dp = new double[T];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
            {
                int off = (b * H + h) * T * D;
                for (int i = 0; i < T; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < T; j++)
                    {
                        bool vis = (!causal || j <= i) && (mask is null || mask[b * T + j] != 0);
                        double s = 0;
                        for (int d = 0; d < D; d++) s += (double)q[off + i * D + d] * k[off + j * D + d];
                        p[j] = vis ? s * scale : double.NegativeInfinity;
                        max = Math.Max(max, p[j]);
                    }
                    int row = (b * H + h) * T + i;
                    if (double.IsNegativeInfinity(max)) { lse[row] = double.PositiveInfinity; continue; }
                    double sum = 0;
                    for (int j = 0; j < T; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
                    lse[row] = max + Math.Log(sum);
                    for (int j = 0; j < T; j++) p[j] /= sum;
                    for (int d = 0; d < D; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < T; j++) acc += p[j] * v[off + j * D + d];
                        o[off + i * D + d] = acc;
                    }
                    if (g is null) continue;
                    // dP = g v^T; dS = P (dP - sum_j P dP); ds/dq = scale k, ds/dk = scale q.
                    double dot = 0;
                    for (int j = 0; j < T; j++)
                    {
                        double acc = 0;
                        for (int d = 0; d < D; d++) acc += (double)g[off + i * D + d] * v[off + j * D + d];
                        dp[j] = acc; dot += p[j] * acc;
                    }
                    for (int j = 0; j < T; j++)
                    {
                        double ds = p[j] * (dp[j] - dot) * scale;
                        for (int d = 0; d < D; d++)
                        {
                            dq[off + i * D + d] += ds * k[off + j * D + d];
                            dk[off + j * D + d] += ds * q[off + i * D + d];
                            dv[off + j * D + d] += p[j] * g[off + i * D + d];
                        }
                    }
                }
            }
        return new Result(o, lse, dq, dk, dv);
    }
}
