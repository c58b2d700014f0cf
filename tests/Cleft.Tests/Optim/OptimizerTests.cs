using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Models.Clip;
using Cleft.Models.Layers;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Optim;

/// <summary>AdamW, SGD, clipping, the schedule and the logit-scale clamp, against float64 and PyTorch.</summary>
public sealed class OptimizerTests
{
    [Fact]
    public void SixAdamWStepsWithWarmupCosineClipAndClampMatchPyTorch()
    {
        var f = ContrastiveTests.Fixture("adamw");
        int n = f.GetProperty("n").GetInt32(), din = f.GetProperty("din").GetInt32(), dout = f.GetProperty("dout").GetInt32();
        int steps = f.GetProperty("steps").GetInt32();
        var init = f.GetProperty("init");
        using var dev = new CpuBackend();
        using var W = new Parameter(dev, ContrastiveTests.F(init.GetProperty("W")), din, dout) { Name = "W" };
        using var b = new Parameter(dev, ContrastiveTests.F(init.GetProperty("b")), dout) { Name = "b" };
        using var scale = new LogitScale(dev, (float)init.GetProperty("s")[0].GetDouble());
        var groups = ParamGroup.DecayAndNoDecay([("W", W), ("b", b)], (float)f.GetProperty("weight_decay").GetDouble());
        var sched = new WarmupCosine((float)f.GetProperty("base_lr").GetDouble(), f.GetProperty("warmup").GetInt32(), steps,
            (float)f.GetProperty("min_lr").GetDouble());
        using var opt = new AdamW([.. groups, scale.Group()], sched.BaseLr) { MaxGradNorm = (float)f.GetProperty("max_norm").GetDouble() };
        double[] losses = ContrastiveTests.D(f.GetProperty("losses")), norms = ContrastiveTests.D(f.GetProperty("norms")), lrs = ContrastiveTests.D(f.GetProperty("lrs"));
        var xs = f.GetProperty("x").EnumerateArray().ToArray();
        var ys = f.GetProperty("y").EnumerateArray().ToArray();
        for (int step = 0; step < steps; step++)
        {
            using var scope = new TensorScope();
            Assert.Equal(lrs[step], sched.Apply(opt, step), 1e-7);
            opt.ZeroGrad();
            var x = Tensor.FromArray(dev, ContrastiveTests.F(xs[step]), n, din);
            var y = Tensor.FromArray(dev, ContrastiveTests.F(ys[step]), n, dout);
            var loss = Ops.ContrastiveLoss(Ops.L2Normalize(Ops.Add(Ops.MatMul(x, W), b)), Ops.L2Normalize(y), scale.Value);
            loss.Backward();
            opt.Step();
            Assert.Equal(losses[step], loss.Item(), 2e-4 * Math.Abs(losses[step]));
            Assert.Equal(norms[step], opt.LastGradNorm!.Value, 2e-4 * norms[step]);
        }
        var fin = f.GetProperty("final");
        TestData.AssertClose(ContrastiveTests.D(fin.GetProperty("W")), W, 1e-4, 1e-4, "final W");
        TestData.AssertClose(ContrastiveTests.D(fin.GetProperty("b")), b, 1e-4, 1e-4, "final b");
        TestData.AssertClose(ContrastiveTests.D(fin.GetProperty("s")), scale.Value, 1e-4, 1e-4, "final s");
    }

    /// <summary>The fused AdamW update against the textbook formula in float64, at odd length with non-zero data.</summary>
    [Fact]
    public void AdamWUpdateMatchesFloat64()
    {
        const int n = 37, steps = 3;
        float lr = 0.01f, b1 = 0.8f, b2 = 0.95f, eps = 1e-6f, wd = 0.2f;
        var rng = new Rng(2);
        float[] p0 = TestData.NonZero(rng, n);
        var grads = Enumerable.Range(0, steps).Select(_ => TestData.NonZero(rng, n)).ToArray();
        using var dev = new CpuBackend();
        using var p = new Parameter(dev, p0, n);
        using var opt = new AdamW([p], lr, b1, b2, eps, wd);
        double[] pr = p0.Select(v => (double)v).ToArray(), m = new double[n], v = new double[n];
        for (int t = 1; t <= steps; t++)
        {
            using (var scope = new TensorScope())
            {
                var w = Tensor.FromArray(dev, grads[t - 1], n);
                Ops.Sum(Ops.Mul(p, w)).Backward(); // d/dp sum(p * w) = w
            }
            opt.Step();
            p.ZeroGrad();
            for (int i = 0; i < n; i++)
            {
                double g = grads[t - 1][i];
                pr[i] *= 1 - (double)lr * wd;
                m[i] = b1 * m[i] + (1 - (double)b1) * g;
                v[i] = b2 * v[i] + (1 - (double)b2) * g * g;
                double mh = m[i] / (1 - Math.Pow(b1, t)), vh = v[i] / (1 - Math.Pow(b2, t));
                pr[i] -= lr * mh / (Math.Sqrt(vh) + eps);
            }
        }
        TestData.AssertClose(pr, p, 1e-6, 1e-5, "AdamW after 3 steps");
    }

    [Fact]
    public void ClippingScalesTheUpdateAndReportsTheGlobalNorm()
    {
        using var dev = new CpuBackend();
        using var a = new Parameter(dev, [1f, 2f, 3f], 3);
        using var c = new Parameter(dev, [0f, 0f], 2);
        using var opt = new Sgd([a, c], lr: 1f) { MaxGradNorm = 1f };
        using (var scope = new TensorScope())
        {
            var loss = Ops.Add(Ops.Sum(Ops.Mul(a, Tensor.FromArray(dev, [3f, 0f, 4f], 3))), Ops.Sum(Ops.Scale(c, 0f)));
            loss.Backward();
        }
        opt.Step();
        Assert.Equal(5f, opt.LastGradNorm!.Value, 1e-5f);
        TestData.AssertClose([1 - 0.6, 2, 3 - 0.8], a, 1e-6, 1e-6, "clipped SGD step");
    }

    [Fact]
    public void WarmupCosineSchedule()
    {
        var s = new WarmupCosine(1f, 4, 12, 0.1f);
        Assert.Equal(0.25f, s.At(0), 6);
        Assert.Equal(1f, s.At(3), 6);
        Assert.Equal(1f, s.At(4), 6);
        Assert.Equal(0.1 + 0.45 * (1 + Math.Cos(Math.PI * 3 / 8)), s.At(7), 6);
        Assert.Equal(0.1f, s.At(12), 6);
        Assert.Equal(0.1f, s.At(1000), 6);
        Assert.Throws<ArgumentException>(() => new WarmupCosine(1f, 5, 5));
    }

    [Fact]
    public void LogitScaleIsClampedByItsGroupAndByTheUtility()
    {
        using var dev = new CpuBackend();
        using var viaGroup = new LogitScale(dev, 4.6f);
        using var viaUtility = new LogitScale(dev, 4.6f);
        using var free = new LogitScale(dev, 4.6f, clamp: false);
        using var opt = new Sgd([viaGroup.Group(), new ParamGroup([viaUtility.Value, free.Value])], lr: 1f);
        using (var scope = new TensorScope())
            Ops.Sum(Ops.Scale(Ops.Add(Ops.Add(viaGroup.Value, viaUtility.Value), free.Value), -1f)).Backward(); // gradient -1: s grows
        opt.Step();
        viaUtility.Clamp();
        Assert.Equal(MathF.Log(100f), viaGroup.Read(), 6);
        Assert.Equal(MathF.Log(100f), viaUtility.Read(), 6);
        Assert.Equal(5.6f, free.Read(), 5);
    }

    [Fact]
    public void DecayGroupsExemptBiasesAndVectors()
    {
        using var dev = new CpuBackend();
        using var model = new TwoTower(dev, new Rng(1), 4, 5, 8, 3);
        var groups = model.Head.Scale.Groups(model, 0.1f);
        Assert.Equal(3, groups.Length);
        Assert.All(groups[0].Parameters, p => Assert.Equal(2, p.Rank));
        Assert.All(groups[1].Parameters, p => Assert.Equal(1, p.Rank));
        Assert.Equal(0f, groups[1].WeightDecay);
        Assert.Same(model.Head.Scale.Value, Assert.Single(groups[2].Parameters));
        Assert.Equal(model.Parameters().Count(), groups.Sum(g => g.Parameters.Count));
    }

    /// <summary>
    /// Every 1-D parameter of TwoTower is named *bias, so the test above cannot tell the rank rule from the name
    /// rule. Here each rule has a parameter only it exempts: a LayerNorm gain ("norm.weight", 1-D) and a 2-D table
    /// named "rel_bias"; a frozen matrix belongs to neither group.
    /// </summary>
    [Fact]
    public void DecayGroupsExemptByRankAndByNameSeparately()
    {
        using var dev = new CpuBackend();
        using var model = new NormedProjection(dev);
        var groups = ParamGroup.DecayAndNoDecay(model.NamedParameters(), 0.1f);
        var byName = model.NamedParameters().ToDictionary(x => x.Param, x => x.Name);
        string[] Names(ParamGroup g) => [.. g.Parameters.Select(p => byName[p]).Order(StringComparer.Ordinal)];

        Assert.Equal(2, groups.Length);
        Assert.Equal(["proj.weight"], Names(groups[0]));
        Assert.Equal(0.1f, groups[0].WeightDecay);
        Assert.Equal(["norm.bias", "norm.weight", "proj.bias", "rel_bias"], Names(groups[1]));
        Assert.Equal(0f, groups[1].WeightDecay);
    }

    sealed class NormedProjection : Module
    {
        public NormedProjection(IBackend dev)
        {
            AddModule("proj", new Linear(dev, new Rng(3), 4, 3));
            AddModule("norm", new LayerNorm(dev, 3, 1e-5f));
            AddParameter("rel_bias", Parameter.Zeros(dev, 2, 2));
            AddParameter("frozen", Parameter.Zeros(dev, 3, 3)).RequiresGrad = false;
        }
    }
}
