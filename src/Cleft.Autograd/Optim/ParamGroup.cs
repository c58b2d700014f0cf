namespace Cleft.Autograd.Optim;

/// <summary>
/// Parameters that share optimizer settings. <see cref="WeightDecay"/> null means the optimizer's default;
/// <see cref="LrScale"/> multiplies the (scheduled) learning rate; <see cref="ClampMin"/>/<see cref="ClampMax"/>
/// bound the values after each update inside the fused kernel (the logit-scale clamp, open_clip's place for it).
/// </summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<Parameter> parameters, float? weightDecay = null, float lrScale = 1f,
        float clampMin = float.NegativeInfinity, float clampMax = float.PositiveInfinity)
    {
        Parameters = parameters.ToArray();
        if (weightDecay < 0 || !(lrScale > 0) || !(clampMin <= clampMax))
            throw new ArgumentException($"ParamGroup: invalid settings weight decay={weightDecay}, lr scale={lrScale}, clamp=[{clampMin}, {clampMax}]");
        WeightDecay = weightDecay;
        LrScale = lrScale;
        ClampMin = clampMin;
        ClampMax = clampMax;
    }

    public IReadOnlyList<Parameter> Parameters { get; }
    public float? WeightDecay { get; }
    public float LrScale { get; }
    public float ClampMin { get; }
    public float ClampMax { get; }

    /// <summary>
    /// The usual CLIP split: matrices decay with <paramref name="weightDecay"/>; 1-D (and scalar) parameters —
    /// biases, norm gains, the logit scale — and anything named "*bias" get none. Frozen parameters are left out.
    /// </summary>
    public static ParamGroup[] DecayAndNoDecay(IEnumerable<(string Name, Parameter Param)> named, float weightDecay)
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, p) in named)
        {
            if (!p.RequiresGrad) continue;
            bool exempt = p.Rank <= 1 || name.EndsWith("bias", StringComparison.Ordinal);
            (exempt ? noDecay : decay).Add(p);
        }
        return [new ParamGroup(decay, weightDecay), new ParamGroup(noDecay, 0f)];
    }
}
