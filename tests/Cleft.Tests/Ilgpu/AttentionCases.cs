using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The attention kernels' cross-backend case (shared by attention_forward, attention_delta,
/// attention_backward_dkdv and attention_backward_dq): forward then backward on shapes that fill no 16-row
/// tile and no 16-column slot, causal with right padding and layer scaling, and bidirectional with padding.
/// Every query sees at least one key here, so the lse is finite (the all-masked +inf rows are covered by
/// AttentionIlgpuTests, whose comparison knows about infinities).
/// </summary>
static class AttentionCases
{
    public static readonly KernelCase Case = new(
        "attention fwd+bwd: [2,1,37,24] causal, keys padded to 37/21, layer_idx 1; [2,1,20,40] bidirectional padded to 13/20", Run, 2e-5, 1e-4);

    static List<float[]> Run(KernelCaseSession s)
    {
        var outs = new List<float[]>();
        outs.AddRange(One(s, new AttentionShape(2, 1, 37, 24, (float)(1 / Math.Sqrt(24) / 2), true, true), [37, 21]));
        outs.AddRange(One(s, new AttentionShape(2, 1, 20, 40, (float)(1 / Math.Sqrt(40)), false, true), [13, 20]));
        return outs;
    }

    static List<float[]> One(KernelCaseSession s, AttentionShape a, int[] lengths)
    {
        var mask = new int[a.Batch * a.T];
        for (int b = 0; b < a.Batch; b++)
            for (int j = 0; j < lengths[b]; j++) mask[b * a.T + j] = 1;
        var q = s.Rand(a.Elements); var k = s.Rand(a.Elements); var v = s.Rand(a.Elements); var g = s.Rand(a.Elements);
        var m = s.Ints(mask);
        var o = s.Rand(a.Elements); var lse = s.Rand(a.Rows);
        var dq = s.Rand(a.Elements); var dk = s.Rand(a.Elements); var dv = s.Rand(a.Elements);
        s.B.AttentionForward(q, k, v, m, o, lse, a);
        s.B.AttentionBackward(q, k, v, m, o, lse, g, dq, dk, dv, a);
        return [s.Read(o), s.Read(lse), s.Read(dq), s.Read(dk), s.Read(dv)];
    }
}
