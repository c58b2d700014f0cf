using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

/// <summary>Creation, devices, memory and pooling of the ILGPU backend (kernel numerics are in CrossBackendTests).</summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuBackendTests(IlgpuFixture fx)
{
    [Fact]
    public void CpuAcceleratorIsConfiguredWithWarpsOf32()
    {
        Assert.Equal("ilgpu-cpu", fx.Ilgpu.Name);
        Assert.Equal(DeviceKind.IlgpuCpu, fx.Ilgpu.Kind);
        Assert.Contains("warp 32", fx.Ilgpu.Description);
    }

    [Fact]
    public void AbsentAcceleratorsFailWithAClearMessage()
    {
        if (!IlgpuBackend.CudaAvailable())
        {
            var e = Assert.Throws<InvalidOperationException>(() => IlgpuBackend.Create(DeviceKind.Cuda));
            Assert.Contains("CUDA", e.Message);
            using var auto = Devices.Create("auto");
            Assert.IsType<CpuBackend>(auto); // auto falls back to the managed backend, never to ilgpu-cpu
        }
        Assert.Throws<ArgumentException>(() => IlgpuBackend.Create(DeviceKind.Cpu));
        Assert.Throws<ArgumentException>(() => Devices.Create("tpu"));
    }

    [Fact]
    public void RoundTripsAndRejectsForeignOrReleasedBuffers()
    {
        var data = Enumerable.Range(1, 37).Select(i => i * 0.5f).ToArray();
        var b = fx.Ilgpu.Allocate<float>(data.Length);
        fx.Ilgpu.CopyFromHost<float>(data, b);
        var back = new float[data.Length];
        fx.Ilgpu.CopyToHost<float>(b, back);
        Assert.Equal(data, back);

        var foreign = fx.Cpu.Allocate<float>(37);
        Assert.Throws<ArgumentException>(() => fx.Ilgpu.Scale(2f, foreign, b, 37));
        fx.Cpu.Release(foreign);
        fx.Ilgpu.Release(b);
        Assert.Throws<ObjectDisposedException>(() => fx.Ilgpu.CopyToHost<float>(b, back));
    }

    /// <summary>
    /// Backends trust their arguments, so a GEMM told K = 20 over an A that holds 16 columns per row reads past
    /// A's view. On the CPU accelerator that bounds check fails on a worker thread; it must surface here, at the
    /// read-back, as an exception naming the kernel, and leave the accelerator usable (before, it killed the test host).
    /// </summary>
    [Fact]
    public void OutOfBoundsKernelAccessFailsTheCallerNotTheProcess()
    {
        var dev = fx.Ilgpu;
        const int M = 3, N = 5, K = 20, KHeld = 16;
        var a = dev.Allocate<float>(M * KHeld); var b = dev.Allocate<float>(K * N); var c = dev.Allocate<float>(M * N);
        try
        {
            dev.Fill(a, M * KHeld, 1f); dev.Fill(b, K * N, 1f); dev.Fill(c, M * N, 0f);
            dev.Synchronize(); // the fills pass; the report below names only what ran after this
            dev.Gemm(a, b, c, GemmShape.Contiguous(1, M, N, K));
            var host = new float[M * N];
            var e = Assert.Throws<InvalidOperationException>(() => dev.CopyToHost<float>(c, host));
            Assert.True(e.Message.Contains("bounds check") && e.Message.Contains("launched since the last synchronisation: gemm."), e.Message);

            // Reported once, and the accelerator still runs kernels.
            dev.Fill(c, M * N, 2f);
            dev.CopyToHost<float>(c, host);
            Assert.All(host, v => Assert.Equal(2f, v));
        }
        finally
        {
            dev.Release(a); dev.Release(b); dev.Release(c);
        }
    }

    [Fact]
    public void SteadyStateAllocatesNoNewDeviceMemory()
    {
        var dev = fx.Ilgpu;
        long fresh = 0;
        for (int step = 0; step < 4; step++)
        {
            var x = dev.Allocate<float>(300); var y = dev.Allocate<float>(300); var s = dev.Allocate<float>(3);
            dev.Fill(x, 300, 1.5f);
            dev.Softmax(x, y, 3, 100, log: false);
            dev.ReduceTo(y, s, 300, Broadcast.PerRow(3, 100));
            var host = new float[3];
            dev.CopyToHost<float>(s, host);
            Assert.All(host, v => Assert.Equal(1f, v, 1e-5f));
            dev.Release(x); dev.Release(y); dev.Release(s);
            if (step == 0) fresh = dev.Pool.FreshAllocations;
        }
        Assert.Equal(fresh, dev.Pool.FreshAllocations);
    }

    [Fact]
    public void EmptyProblemsLaunchNothingAndStillWriteDefinedOutputs()
    {
        var dev = fx.Ilgpu;
        var x = dev.Allocate<float>(0); var loss = dev.Allocate<float>(1); var count = dev.Allocate<float>(1);
        var t = dev.Allocate<int>(0); var lse = dev.Allocate<float>(0);
        dev.CopyFromHost<float>([5f], loss);
        dev.Scale(2f, x, x, 0);
        dev.CrossEntropy(x, t, lse, loss, count, 0, 3, -100);
        var l = new float[1]; var c = new float[1];
        dev.CopyToHost<float>(loss, l); dev.CopyToHost<float>(count, c);
        Assert.Equal(0f, l[0]); Assert.Equal(0f, c[0]);
        dev.Release(x); dev.Release(loss); dev.Release(count); dev.Release(t); dev.Release(lse);
    }
}
