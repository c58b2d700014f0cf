using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Cleft.Train.Training;

namespace Cleft.Tests.Recipe;

/// <summary>
/// Steady-state stage 1 on the managed backend (issue 10): after warm-up a step rents every device buffer from the
/// pool (no fresh allocation, so no large-object-heap churn) and 20 steps cause no gen2 collection; trimming the
/// pool to its high-water mark between steps drops nothing a step needs, and drops a one-off spike.
/// </summary>
[Collection(ProcessWideCollection.Name)] // GC counts are per process
public sealed class SteadyStateMemoryTests
{
    [Fact]
    public void TwentyStepsAllocateNoDeviceBuffersAndCollectNoGen2()
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(40));
        var batch = CleftFixture.Batch(1000, 8);
        for (int i = 0; i < 3; i++) { trainer.TrainStep(batch.Pixels, batch.Captions); dev.TrimPool(); }

        long fresh = dev.Pool.FreshAllocations, reserved = dev.Pool.ReservedBytes;
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        int gen2 = GC.CollectionCount(2);
        for (int i = 0; i < 20; i++) { trainer.TrainStep(batch.Pixels, batch.Captions); dev.TrimPool(); }
        int collections = GC.CollectionCount(2) - gen2;

        Assert.Equal(fresh, dev.Pool.FreshAllocations);
        Assert.Equal(reserved, dev.Pool.ReservedBytes);
        Assert.True(collections == 0, $"{collections} gen2 collections over 20 steady-state steps");
    }

    [Fact]
    public void TrimGivesBackOnlyWhatExceedsTheHighWaterMark()
    {
        using var dev = new CpuBackend();
        var a = dev.Allocate<float>(1000);
        var b = dev.Allocate<float>(1000);
        dev.Release(a); dev.Release(b);
        // The period that rented two is over: both are free and one live at once is the new need.
        Assert.Equal(0, dev.TrimPool()); // the high-water mark of that period was 2 buffers: keep both
        var c = dev.Allocate<float>(1000);
        dev.Release(c);
        long released = dev.TrimPool(); // this period peaked at 1: one of the two free buffers goes
        Assert.Equal(1024L * sizeof(float), released);
        Assert.Equal(1024L * sizeof(float), dev.Pool.ReservedBytes);
        long fresh = dev.Pool.FreshAllocations;
        dev.Release(dev.Allocate<float>(1000)); // still served from the pool
        Assert.Equal(fresh, dev.Pool.FreshAllocations);
    }
}
