using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The tensor-core attention kernels' cross-backend case (registered in <see cref="KernelCases.All"/> for all three):
/// forward then backward through IlgpuBackend's Bf16 methods against the managed fp32 attention of bf16-rounded q, k, v.
/// P and dS are rounded to bf16 inside the kernels, hence the loose tolerance; TensorCoreAttentionTests compares with
/// a model that rounds the same way at a ~100x tighter one.
/// </summary>
static class TensorCoreAttentionCases
{
    public static readonly KernelCase Case = new(
        "bf16 mma attention fwd+bwd: [2,1,37,24] causal, keys padded to 37/21, layer_idx 1, vs managed fp32 attention of bf16-rounded q, k, v", s =>
    {
        var a = new AttentionShape(2, 1, 37, 24, (float)(1 / Math.Sqrt(24) / 2), true, true);
        var mask = new int[a.Batch * a.T];
        for (int j = 0; j < a.T; j++) { mask[j] = 1; mask[a.T + j] = j < 21 ? 1 : 0; }
        float[] qv = s.Values(a.Elements), kv = s.Values(a.Elements), vv = s.Values(a.Elements);
        if (s.B is not IlgpuBackend) (qv, kv, vv) = (Rounded(qv), Rounded(kv), Rounded(vv));
        var (q, k, v, g, m) = (s.Upload(qv), s.Upload(kv), s.Upload(vv), s.Rand(a.Elements), s.Ints(mask));
        var o = s.Rand(a.Elements); var lse = s.Rand(a.Rows);
        var dq = s.Rand(a.Elements); var dk = s.Rand(a.Elements); var dv = s.Rand(a.Elements);
        if (s.B is IlgpuBackend ilgpu)
        {
            ilgpu.AttentionForwardBf16(q, k, v, m, o, lse, a);
            ilgpu.AttentionBackwardBf16(q, k, v, m, o, lse, g, dq, dk, dv, a);
        }
        else
        {
            s.B.AttentionForward(q, k, v, m, o, lse, a);
            s.B.AttentionBackward(q, k, v, m, o, lse, g, dq, dk, dv, a);
        }
        return [s.Read(o), s.Read(lse), s.Read(dq), s.Read(dk), s.Read(dv)];
    }, 1e-2, 2e-2);

    static float[] Rounded(float[] x) => x.Select(Bf16.Round).ToArray();
}
