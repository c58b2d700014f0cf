using ILGPU;
using ILGPU.Util;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Elementwise kernels: grid-stride loops (see <see cref="GridStride"/>), one element per thread per step.
/// Broadcast operands are read through the same (i / Divisor) % Modulus rule as <see cref="Broadcast"/>;
/// the op code is a uniform argument, so the switch costs one predictable branch per element.
/// The pure-bandwidth kernels (fill, axpy, scale) move whole quads as <see cref="Float4"/> (128-bit loads and
/// stores, a quarter of the memory instructions), then the last n % 4 elements one by one: every view they get
/// is a whole pool buffer, which starts at the allocation's (at least 256-byte) alignment.
/// </summary>
static class ElementwiseKernels
{
    [Kernel("fill", KernelGrouping.Explicit)]
    static void Fill(ArrayView<float> y, int n, float value)
    {
        int quads = n >> 2;
        var y4 = y.Cast<Float4>();
        Float4 v = value;
        for (int i = GridStride.Start; i < quads; i += GridStride.Step) y4[i] = v;
        for (int i = (quads << 2) + GridStride.Start; i < n; i += GridStride.Step) y[i] = value;
    }

    [Kernel("binary", KernelGrouping.Explicit)]
    static void Binary(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, int op, int divisor, int modulus)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            float x = a[i], w = b[i / divisor % modulus];
            y[i] = op switch
            {
                (int)BinaryOp.Add => x + w,
                (int)BinaryOp.Sub => x - w,
                (int)BinaryOp.Mul => x * w,
                _ => x / w,
            };
        }
    }

    [Kernel("binary_grad_b", KernelGrouping.Explicit)]
    static void BinaryGradB(ArrayView<float> a, ArrayView<float> b, ArrayView<float> dy, ArrayView<float> g,
        int n, int op, int divisor, int modulus)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            float d = dy[i];
            if (op == (int)BinaryOp.Add) g[i] = d;
            else if (op == (int)BinaryOp.Sub) g[i] = -d;
            else if (op == (int)BinaryOp.Mul) g[i] = d * a[i];
            else
            {
                float w = b[i / divisor % modulus];
                g[i] = -d * a[i] / (w * w);
            }
        }
    }

    [Kernel("axpy", KernelGrouping.Explicit)]
    static void Axpy(float alpha, ArrayView<float> x, ArrayView<float> y, int n)
    {
        int quads = n >> 2;
        ArrayView<Float4> x4 = x.Cast<Float4>(), y4 = y.Cast<Float4>();
        Float4 a = alpha;
        for (int i = GridStride.Start; i < quads; i += GridStride.Step) y4[i] = y4[i] + a * x4[i];
        for (int i = (quads << 2) + GridStride.Start; i < n; i += GridStride.Step) y[i] += alpha * x[i];
    }

    [Kernel("scale", KernelGrouping.Explicit)]
    static void Scale(float alpha, ArrayView<float> x, ArrayView<float> y, int n)
    {
        int quads = n >> 2;
        ArrayView<Float4> x4 = x.Cast<Float4>(), y4 = y.Cast<Float4>();
        Float4 a = alpha;
        for (int i = GridStride.Start; i < quads; i += GridStride.Step) y4[i] = a * x4[i];
        for (int i = (quads << 2) + GridStride.Start; i < n; i += GridStride.Step) y[i] = alpha * x[i];
    }

    // GeluMath is the same code the managed backend runs; MathF.Tanh is one of ILGPU's remapped intrinsics
    // (tanh.approx.f32 on sm_75+), so the kernel and the host share one definition.
    [Kernel("gelu", KernelGrouping.Explicit)]
    static void Gelu(ArrayView<float> x, ArrayView<float> y, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) y[i] = GeluMath.Forward(x[i]);
    }

    [Kernel("gelu_backward", KernelGrouping.Explicit)]
    static void GeluBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) dx[i] = dy[i] * GeluMath.Derivative(x[i]);
    }

    [Kernel("broadcast_to", KernelGrouping.Explicit)]
    static void BroadcastTo(ArrayView<float> x, ArrayView<float> y, int n, int divisor, int modulus)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) y[i] = x[i / divisor % modulus];
    }
}
