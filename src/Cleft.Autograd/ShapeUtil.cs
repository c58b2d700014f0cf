namespace Cleft.Autograd;

/// <summary>Shape arithmetic and the error messages every op shares.</summary>
public static class ShapeUtil
{
    public static long Count(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";

    public static void Validate(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (int d in shape)
            if (d <= 0) throw new ArgumentException($"shape {Format(shape)} has a non-positive dimension");
    }

    public static bool Same(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>Normalises a possibly negative axis and checks it.</summary>
    public static int Axis(string op, Tensor t, int axis)
    {
        int a = axis < 0 ? t.Rank + axis : axis;
        if (a < 0 || a >= t.Rank) throw new ArgumentException($"{op}: axis {axis} is out of range for {t.Describe()}");
        return a;
    }
}

/// <summary>Argument checks shared by all ops: they run once, above both backends, and name the op and shapes.</summary>
public static class Check
{
    public static void SameDevice(string op, Tensor a, Tensor b)
    {
        if (!ReferenceEquals(a.Device, b.Device))
            throw new ArgumentException($"{op}: tensors are on different devices: {a.Describe()} on {a.Device.Name}, {b.Describe()} on {b.Device.Name}");
    }

    public static void SameShape(string op, Tensor a, Tensor b)
    {
        if (!ShapeUtil.Same(a.Shape, b.Shape))
            throw new ArgumentException($"{op}: shapes differ: {a.Describe()} vs {b.Describe()}");
    }

    public static void Rank(string op, Tensor t, int min, int max = int.MaxValue)
    {
        if (t.Rank < min || t.Rank > max)
            throw new ArgumentException($"{op}: expected rank {(min == max ? min.ToString() : $"{min}..{max}")}, got {t.Describe()}");
    }

    public static void That(bool condition, string op, string message)
    {
        if (!condition) throw new ArgumentException($"{op}: {message}");
    }
}
