using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Layers;

/// <summary>
/// y = x W + b with W stored [in, out] — the layout of GPT-2's Conv1D, so Hugging Face weights load without
/// a transpose and LoRA can wrap this layer later. Initialised U(±1/sqrt(in)) like torch.nn.Linear.
/// </summary>
public sealed class Linear : Module, IProjection
{
    public Linear(IBackend device, Rng rng, int inFeatures, int outFeatures, bool bias = true)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear: features must be positive, got in={inFeatures}, out={outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = AddParameter("weight", Parameter.Uniform(device, rng, bound, inFeatures, outFeatures));
        Bias = bias ? AddParameter("bias", Parameter.Uniform(device, rng, bound, outFeatures)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    HalfTensor? IProjection.HalfWeight => null;

    /// <summary>x [..., in] -> [..., out].</summary>
    public Tensor Forward(Tensor x)
    {
        if (x.Dim(-1) != InFeatures)
            throw new ArgumentException($"Linear({InFeatures} -> {OutFeatures}): input {x.Describe()} has last axis {x.Dim(-1)}");
        // The row-vector reshapes are disposed as soon as they are used, like torch's temporaries (a reshape saves nothing).
        if (x.Rank == 1)
        {
            using var row = Ops.Reshape(x, 1, InFeatures);
            using var y = Ops.Linear(row, Weight, Bias);
            return Ops.Reshape(y, OutFeatures);
        }
        return Ops.Linear(x, Weight, Bias);
    }
}
