using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// A cross-backend case: <see cref="Run"/> builds its inputs from the session's seeded generator (so both
/// backends get identical data), runs one or more ops, and returns every output read back to the host.
/// Outputs are compared elementwise: |ilgpu - cpu| &lt;= Abs + Rel * |cpu|.
/// </summary>
public sealed record KernelCase(string What, Func<KernelCaseSession, List<float[]>> Run, double Abs = 1e-6, double Rel = 1e-6);

/// <summary>Buffers on one backend with deterministic, never-zero random contents; releases them on dispose.</summary>
public sealed class KernelCaseSession(IBackend backend, int seed) : IDisposable
{
    readonly Random _rng = new(seed);
    readonly List<Action> _release = [];

    public IBackend B { get; } = backend;

    /// <summary>Values in +-[0.1, 1] * scale: never zero, so a kernel that skips an element cannot pass by accident.</summary>
    public float[] Values(long n, float scale = 1f)
    {
        var v = new float[n];
        for (long i = 0; i < n; i++)
        {
            float mag = 0.1f + 0.9f * (float)_rng.NextDouble();
            v[i] = (_rng.Next(2) == 0 ? -mag : mag) * scale;
        }
        return v;
    }

    public DeviceBuffer<float> Rand(long n, float scale = 1f) => Upload(Values(n, scale));

    public DeviceBuffer<float> Upload(float[] data)
    {
        var b = B.Allocate<float>(data.Length);
        B.CopyFromHost<float>(data, b);
        _release.Add(() => B.Release(b));
        return b;
    }

    public DeviceBuffer<int> Ints(int[] data)
    {
        var b = B.Allocate<int>(data.Length);
        B.CopyFromHost<int>(data, b);
        _release.Add(() => B.Release(b));
        return b;
    }

    public int Next(int max) => _rng.Next(max);

    public float[] Read(DeviceBuffer<float> b)
    {
        var host = new float[b.Length];
        B.CopyToHost<float>(b, host);
        return host;
    }

    public void Dispose()
    {
        foreach (var r in _release) r();
        _release.Clear();
    }
}
