namespace Cleft.Autograd;

/// <summary>
/// Operators and fluent forms of the ops, as C# 14 extension members so that Tensor.cs stays the core
/// type's file. Each is exactly the <see cref="Ops"/> method it names; broadcasting follows
/// <see cref="Ops.Add"/> (the right operand is the smaller one).
/// </summary>
public static class TensorOperators
{
    extension(Tensor)
    {
        public static Tensor operator +(Tensor a, Tensor b) => Ops.Add(a, b);
        public static Tensor operator -(Tensor a, Tensor b) => Ops.Sub(a, b);
        public static Tensor operator *(Tensor a, Tensor b) => Ops.Mul(a, b);
        public static Tensor operator /(Tensor a, Tensor b) => Ops.Div(a, b);
        public static Tensor operator *(Tensor a, float s) => Ops.Scale(a, s);
        public static Tensor operator *(float s, Tensor a) => Ops.Scale(a, s);
        public static Tensor operator /(Tensor a, float s) => Ops.Scale(a, 1f / s);
        public static Tensor operator -(Tensor a) => Ops.Scale(a, -1f);
    }

    extension(Tensor t)
    {
        public Tensor MatMul(Tensor b, bool transA = false, bool transB = false) => Ops.MatMul(t, b, transA, transB);
        public Tensor Reshape(params int[] shape) => Ops.Reshape(t, shape);
        public Tensor Transpose(int axis0, int axis1) => Ops.Transpose(t, axis0, axis1);
        public Tensor Permute(params int[] perm) => Ops.Permute(t, perm);
        public Tensor Slice(int axis, int start, int length) => Ops.Slice(t, axis, start, length);
        public Tensor Sum() => Ops.Sum(t);
        public Tensor Sum(int axis, bool keepDim = false) => Ops.Sum(t, axis, keepDim);
        public Tensor Mean() => Ops.Mean(t);
        public Tensor Mean(int axis, bool keepDim = false) => Ops.Mean(t, axis, keepDim);
        public Tensor Softmax() => Ops.Softmax(t);
        public Tensor LogSoftmax() => Ops.LogSoftmax(t);
        public Tensor Gelu() => Ops.Gelu(t);
    }
}
