using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models;

/// <summary>Linear -> GELU -> ... -> Linear classifier; the engine's smallest end-to-end model (the demo's).</summary>
public sealed class Mlp : Module
{
    readonly List<Linear> _layers = new();

    /// <param name="sizes">input, hidden..., output widths (at least two).</param>
    public Mlp(IBackend device, Rng rng, params int[] sizes)
    {
        if (sizes.Length < 2) throw new ArgumentException("Mlp needs at least an input and an output width");
        for (int i = 0; i + 1 < sizes.Length; i++)
            _layers.Add(AddModule($"fc{i}", new Linear(device, rng, sizes[i], sizes[i + 1])));
    }

    public IReadOnlyList<Linear> Layers => _layers;

    /// <summary>x [N, in] -> logits [N, out].</summary>
    public Tensor Forward(Tensor x)
    {
        // Every tensor made here but the result is dropped once the next exists (the ops saved what they need).
        var y = x;
        for (int i = 0; i < _layers.Count; i++)
        {
            using (var input = ReferenceEquals(y, x) ? null : y) y = _layers[i].Forward(y);
            if (i + 1 < _layers.Count) using (var pre = y) y = Ops.Gelu(pre);
        }
        return y;
    }
}
