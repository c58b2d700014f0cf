using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The ILGPU elementwise and layout kernels index with 32-bit ints; a call whose indices could overflow is refused on
/// the host with an error naming the op, before anything is launched (no buffer that large is needed to see it).
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class IndexLimitTests(IlgpuFixture fx)
{
    [Fact]
    public void ElementwiseOpsRefuseMoreThan2To30Elements()
    {
        var y = fx.Ilgpu.Allocate<float>(4);
        try
        {
            var e = Assert.Throws<NotSupportedException>(() => fx.Ilgpu.Fill(y, (1L << 30) + 1, 0f));
            Assert.Contains("Fill", e.Message);
            Assert.Contains("32-bit", e.Message);
            e = Assert.Throws<NotSupportedException>(() => fx.Ilgpu.Dropout(y, y, 1L << 31, 0.1f, 1UL));
            Assert.Contains("Dropout", e.Message);
            fx.Ilgpu.Fill(y, 4, 2f); // the limit is per call: ordinary sizes still run
            var host = new float[4];
            fx.Ilgpu.CopyToHost(y, host);
            Assert.All(host, v => Assert.Equal(2f, v));
        }
        finally { fx.Ilgpu.Release(y); }
    }
}
