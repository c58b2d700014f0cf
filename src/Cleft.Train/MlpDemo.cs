using System.Diagnostics;
using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels;
using Cleft.Models;

namespace Cleft.Train;

public sealed record MlpDemoOptions(int Steps = 300, int Batch = 128, int Hidden = 64, int Classes = 3, float LearningRate = 0.2f,
    float Momentum = 0.9f, ulong Seed = 42, int LogEvery = 25, int Samples = 4096);

public sealed record MlpDemoResult(IReadOnlyList<float> Losses, float FinalAccuracy, double Seconds);

/// <summary>
/// The engine end to end: generated data in, an MLP trained with cross-entropy and SGD on the chosen device,
/// losses out. Each step runs in a TensorScope, so after the first step the device pool serves every buffer.
/// </summary>
public static class MlpDemo
{
    public static MlpDemoResult Run(IBackend device, MlpDemoOptions o, TextWriter log)
    {
        var rng = new Rng(o.Seed);
        var train = MlpDemoData.Spirals(o.Samples, o.Classes, rng);
        var test = MlpDemoData.Spirals(1024, o.Classes, new Rng(o.Seed + 1));
        using var model = new Mlp(device, rng, MlpDemoData.Features, o.Hidden, o.Hidden, o.Classes);
        using var opt = new Sgd(model.TrainableParameters(), o.LearningRate, o.Momentum);
        log.WriteLine($"mlp: MLP {MlpDemoData.Features}->{o.Hidden}->{o.Hidden}->{o.Classes} ({model.ParameterCount():N0} parameters) " +
                      $"on {device.Name} ({device.Description}); {o.Steps} steps of batch {o.Batch}, seed {o.Seed}");

        var order = Enumerable.Range(0, train.Count).ToArray();
        rng.Shuffle(order.AsSpan());
        var xb = new float[o.Batch * MlpDemoData.Features];
        var yb = new int[o.Batch];
        var losses = new List<float>(o.Steps);
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < o.Steps; step++)
        {
            using var scope = new TensorScope();
            train.Batch(order, step * o.Batch, o.Batch, xb, yb);
            var x = Tensor.FromArray(device, xb, o.Batch, MlpDemoData.Features);
            using var targets = IntTensor.FromArray(device, yb, o.Batch);
            opt.ZeroGrad();
            var loss = Ops.CrossEntropy(model.Forward(x), targets);
            loss.Backward();
            opt.Step();
            float value = loss.Item();
            if (!float.IsFinite(value))
                throw new InvalidOperationException($"mlp: loss became {value} at step {step}; lower --lr (now {o.LearningRate})");
            losses.Add(value);
            if (step % o.LogEvery == 0 || step == o.Steps - 1)
                log.WriteLine($"step {step,5}  loss {value:F6}  ({(step + 1) / clock.Elapsed.TotalSeconds:F1} steps/s)");
        }
        float acc = Accuracy(device, model, test);
        log.WriteLine($"mlp: held-out accuracy {acc:P1} after {o.Steps} steps, {clock.Elapsed.TotalSeconds:F1} s; " +
                      $"first loss {losses[0]:F4} -> last {losses[^1]:F4}");
        return new MlpDemoResult(losses, acc, clock.Elapsed.TotalSeconds);
    }

    static float Accuracy(IBackend device, Mlp model, MlpDemoData data)
    {
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        var logits = model.Forward(Tensor.FromArray(device, data.X, data.Count, MlpDemoData.Features)).ToArray();
        int correct = 0;
        for (int i = 0; i < data.Count; i++)
        {
            var row = logits.AsSpan(i * data.Classes, data.Classes);
            int arg = 0;
            for (int c = 1; c < row.Length; c++) if (row[c] > row[arg]) arg = c;
            if (arg == data.Y[i]) correct++;
        }
        return (float)correct / data.Count;
    }
}
