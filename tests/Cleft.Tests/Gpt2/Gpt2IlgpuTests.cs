using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Tests.Ilgpu;
using Xunit.Abstractions;

namespace Cleft.Tests.Gpt2;

/// <summary>
/// The tiny GPT-2 with LoRA on the ILGPU CPU accelerator against the managed backend: features and LoRA
/// gradients within 1e-4. In the ILGPU collection so it does not compete with the other accelerator tests.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class Gpt2IlgpuTests(ITestOutputHelper output)
{
    static (float[] Features, Dictionary<string, float[]> Grads) Run(IBackend dev)
    {
        var r = Gpt2Fixture.Ref;
        using var model = Gpt2Fixture.LoadWithLora(dev);
        using var batch = Gpt2Fixture.Batch(dev);
        using var scope = new TensorScope();
        var hidden = model.Forward(batch.Ids, batch.Mask);
        var features = Ops.IndexSelect(Ops.Reshape(hidden, r.batch * r.seq, model.Config.NEmbd), batch.GatherIndex);
        features.Backward(Tensor.FromArray(dev, r.cotangent.Select(v => (float)v).ToArray(), features.Shape));
        var grads = model.NamedParameters().Where(x => x.Param.Grad is not null).ToDictionary(x => x.Name, x => x.Param.Grad!.ToArray());
        return (features.ToArray(), grads);
    }

    [Fact]
    public void IlgpuCpuAgreesWithCpu()
    {
        using var cpu = new CpuBackend();
        using var ilgpu = Devices.Create("ilgpu-cpu");
        var a = Run(cpu);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var b = Run(ilgpu);
        output.WriteLine($"ilgpu-cpu forward + backward {sw.ElapsedMilliseconds} ms");
        double worst = Gpt2Fixture.MaxAbsDiff(a.Features, b.Features);
        Assert.True(worst <= 1e-4, $"features differ by {worst:E2}");
        Assert.Equal(a.Grads.Keys.Order(), b.Grads.Keys.Order());
        foreach (var (name, g) in a.Grads)
        {
            double d = Gpt2Fixture.MaxAbsDiff(g, b.Grads[name]);
            worst = Math.Max(worst, d);
            Assert.True(d <= 1e-4, $"grad {name} differs by {d:E2}");
        }
        output.WriteLine($"max |cpu - ilgpu-cpu| {worst:E2}");
    }
}
