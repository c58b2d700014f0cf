using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Half = ILGPU.Half;

namespace Cleft.Kernels;

/// <summary>
/// Host-side fp32 &lt;-&gt; fp16 conversion. ILGPU.Half and System.Half share the IEEE binary16 bit layout, so the
/// spans are reinterpreted and converted with TensorPrimitives (vectorised, round-to-nearest-even).
/// </summary>
public static class HalfConvert
{
    public static void ToHalf(ReadOnlySpan<float> source, Span<Half> destination)
        => TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<Half, System.Half>(destination));

    public static void ToSingle(ReadOnlySpan<Half> source, Span<float> destination)
        => TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Half, System.Half>(source), destination);

    public static Half[] ToHalf(ReadOnlySpan<float> source)
    {
        var h = new Half[source.Length];
        ToHalf(source, h);
        return h;
    }

    public static float[] ToSingle(ReadOnlySpan<Half> source)
    {
        var f = new float[source.Length];
        ToSingle(source, f);
        return f;
    }
}
