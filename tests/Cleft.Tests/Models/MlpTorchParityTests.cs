using System.Text.Json;
using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels.Cpu;
using Cleft.Models;

namespace Cleft.Tests.Models;

/// <summary>
/// A whole training step against PyTorch: the fixture (tests/fixtures/generators/mlp_sgd_steps.py, float64)
/// holds initial weights, four batches, the losses, the first step's gradients and the final weights after
/// SGD with momentum. Tolerances: loss 1e-5, gradients 1e-5 absolute, final weights 1e-5 (fp32 vs fp64).
/// </summary>
public sealed class MlpTorchParityTests
{
    sealed record Fixture(int[] sizes, float lr, float momentum, int batch, Dictionary<string, float[]> init,
        List<BatchData> batches, double[] losses, Dictionary<string, float[]> first_grads, Dictionary<string, float[]> final);
    sealed record BatchData(float[] x, int[] y);

    static Fixture Load()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "mlp_sgd_steps.json");
        return JsonSerializer.Deserialize<Fixture>(File.ReadAllText(path))!;
    }

    [Fact]
    public void FourSgdMomentumStepsMatchPyTorch()
    {
        var f = Load();
        using var dev = new CpuBackend();
        using var model = new Mlp(dev, new Rng(1), f.sizes);
        model.LoadStateDict(f.init);
        using var opt = new Sgd(model.TrainableParameters(), f.lr, f.momentum);
        for (int step = 0; step < f.batches.Count; step++)
        {
            using var scope = new TensorScope();
            var b = f.batches[step];
            var x = Tensor.FromArray(dev, b.x, f.batch, f.sizes[0]);
            using var y = IntTensor.FromArray(dev, b.y, f.batch);
            opt.ZeroGrad();
            var loss = Ops.CrossEntropy(model.Forward(x), y);
            loss.Backward();
            Assert.Equal(f.losses[step], loss.Item(), 1e-5);
            if (step == 0)
                foreach (var (name, p) in model.NamedParameters())
                    AssertClose(f.first_grads[name], p.Grad!.ToArray(), 1e-5, $"grad {name}");
            opt.Step();
        }
        foreach (var (name, p) in model.NamedParameters())
            AssertClose(f.final[name], p.ToArray(), 1e-5, $"final {name}");
    }

    static void AssertClose(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"{what}[{i}]: torch {expected[i]}, ours {actual[i]}");
    }
}
