"""Attention cases for the side-by-side harness (imported by torch_gemm.py into its CASES table).

Reference = plain softmax attention as PyTorch 1.13 runs it on the CPU (no fused kernel exists there):
scores q k^T * scale, masked_fill(-inf) with the causal and key padding masks, softmax, @ v; forward plus
backward of all three inputs. Shapes: B=8, H=12, T=size, D=64 (GPT-2 small heads). The flop count is the
same dense count as the C# side (AttentionShape.DenseTrainingFlops), so the GFLOP/s ratio is a time ratio.
"""
import math

B, H, D = 8, 12, 64


def lengths(t):
    """Right padding as in a CLEFT caption batch: row b has t - 8 b real tokens (at least t / 2)."""
    return [max(t // 2, t - 8 * b) for b in range(B)]


def _case(torch, t, causal, padded):
    q, k, v = (torch.randn(B, H, t, D, requires_grad=True) for _ in range(3))
    g = torch.randn(B, H, t, D)
    visible = torch.ones(t, t, dtype=torch.bool)
    if causal:
        visible = torch.tril(visible)
    visible = visible[None, None].expand(B, 1, t, t)
    if padded:
        keys = torch.zeros(B, t, dtype=torch.bool)
        for b, n in enumerate(lengths(t)):
            keys[b, :n] = True
        visible = visible & keys[:, None, None, :]
    blocked = ~visible
    scale = 1.0 / math.sqrt(D)

    def run():
        for x in (q, k, v):
            x.grad = None
        s = (q @ k.transpose(-1, -2)) * scale
        p = torch.softmax(s.masked_fill(blocked, float("-inf")), dim=-1)
        (p @ v).backward(g)

    return run, 6.0 * 2.0 * B * H * t * t * D


def case_attention(torch, t):
    return _case(torch, t, causal=True, padded=True)


def case_attention_full(torch, t):
    return _case(torch, t, causal=False, padded=False)


CASES = {"attention": case_attention, "attention-full": case_attention_full}
