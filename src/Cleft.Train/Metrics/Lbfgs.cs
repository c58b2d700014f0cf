namespace Cleft.Train.Metrics;

/// <summary>
/// Limited-memory BFGS (two-loop recursion, 10 pairs) with a backtracking Armijo line search, for the smooth,
/// strictly convex objectives of the linear probe. Deterministic: no randomness, fixed arithmetic order.
/// </summary>
static class Lbfgs
{
    const int Memory = 10;

    /// <summary>Evaluates f at x and writes its gradient into the second argument.</summary>
    public delegate double Objective(double[] x, double[] gradient);

    /// <summary>Minimises in place from <paramref name="x"/>. Stops when the largest gradient component is at most
    /// <paramref name="tolerance"/> (Converged), when no step along the search direction makes progress (stalled
    /// at rounding level), or after <paramref name="maxIterations"/>; the last two report Converged only if the
    /// gradient test holds.</summary>
    public static (int Iterations, bool Converged) Minimize(Objective f, double[] x, int maxIterations, double tolerance)
    {
        int n = x.Length;
        var g = new double[n];
        var gNew = new double[n];
        var xNew = new double[n];
        var dir = new double[n];
        var s = new List<double[]>();
        var y = new List<double[]>();
        var rho = new List<double>();
        var alpha = new double[Memory];
        double fx = f(x, g);
        for (int iter = 0; iter < maxIterations; iter++)
        {
            if (MaxAbs(g) <= tolerance) return (iter, true);
            // two-loop recursion: dir = -H g
            for (int i = 0; i < n; i++) dir[i] = -g[i];
            for (int m = s.Count - 1; m >= 0; m--)
            {
                alpha[m] = rho[m] * Dot(s[m], dir);
                Axpy(-alpha[m], y[m], dir);
            }
            double gamma = s.Count > 0 ? Dot(s[^1], y[^1]) / Dot(y[^1], y[^1]) : 1 / Math.Max(1, Math.Sqrt(Dot(g, g)));
            for (int i = 0; i < n; i++) dir[i] *= gamma;
            for (int m = 0; m < s.Count; m++)
            {
                double beta = rho[m] * Dot(y[m], dir);
                Axpy(alpha[m] - beta, s[m], dir);
            }
            double slope = Dot(g, dir);
            if (slope >= 0) // lost descent (rounding): restart from steepest descent
            {
                s.Clear(); y.Clear(); rho.Clear();
                for (int i = 0; i < n; i++) dir[i] = -g[i] / Math.Max(1, Math.Sqrt(Dot(g, g)));
                slope = Dot(g, dir);
            }
            double step = 1, fNew = double.NaN;
            bool decreased = false;
            for (int tries = 0; tries < 60; tries++, step *= 0.5)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + step * dir[i];
                fNew = f(xNew, gNew);
                if (fNew <= fx + 1e-4 * step * slope) { decreased = true; break; }
                // Near the minimum the decrease falls below f's rounding and Armijo cannot hold; accept a step
                // that leaves f equal within rounding and cuts the directional derivative (Hager-Zhang's
                // approximate Wolfe condition), so the gradient keeps shrinking to the tolerance.
                if (fNew <= fx + 1e-12 * Math.Abs(fx) && Math.Abs(Dot(gNew, dir)) <= 0.9 * -slope) { decreased = true; break; }
            }
            if (!decreased) return (iter, MaxAbs(g) <= tolerance); // no step makes progress: stalled at rounding level
            var sk = new double[n];
            var yk = new double[n];
            for (int i = 0; i < n; i++) { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i]; }
            double sy = Dot(sk, yk);
            if (sy > 1e-12 * Math.Sqrt(Dot(sk, sk) * Dot(yk, yk))) // keep the inverse Hessian estimate positive definite
            {
                if (s.Count == Memory) { s.RemoveAt(0); y.RemoveAt(0); rho.RemoveAt(0); }
                s.Add(sk); y.Add(yk); rho.Add(1 / sy);
            }
            Array.Copy(xNew, x, n);
            Array.Copy(gNew, g, n);
            fx = fNew;
        }
        return (maxIterations, MaxAbs(g) <= tolerance);
    }

    static double Dot(double[] a, double[] b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    static void Axpy(double a, double[] x, double[] y)
    {
        for (int i = 0; i < y.Length; i++) y[i] += a * x[i];
    }

    static double MaxAbs(double[] v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        return m;
    }
}
