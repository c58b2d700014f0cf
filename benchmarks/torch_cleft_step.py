#!/usr/bin/python3
"""PyTorch side of the side-by-side harness's cleft-step case (benchmarks/Cleft.Benchmarks/SideBySide.CleftStep.cs).

One stage-1 CLEFT training step of a small model, built as our engine builds it (src/Cleft.Models):
  image: DINOv2-with-registers ViT (Conv2d patches, CLS + position embeddings, registers without positions,
         pre-norm blocks with separate q/k/v, exact GELU, LayerScale), mean over ALL tokens of the last block
         BEFORE the final LayerNorm (kept as a parameter, off the path, as CLEFT loads it), Linear to 512;
  text:  GPT-2 (Conv1D layout, tanh GELU, causal + key padding mask) with every base weight frozen, LoRA r 8 /
         alpha 32 / dropout 0 on the fused c_attn, ln_f hidden state at each row's EOS position, Linear to 512;
  head:  L2-normalise both, symmetric InfoNCE (mean of both directions) with a learnable logit scale;
  AdamW: weight decay on matrices (ndim >= 2, not biases), none on the rest, the scale alone and clamped to
         [0, ln 100] after each step; the ViT's final LayerNorm is not in the optimizer (our trainer's choice).
Attention is plain matmul / masked_fill / softmax / matmul: torch 1.13 has no fused CPU attention.

Prints one JSON object: torch version, threads, BLAS, parameter counts, median step and forward seconds,
peak RSS. With --expect (our counts) it exits 3 before timing anything if the counts differ.
Usage: torch_cleft_step.py --vit 192,4,3 --gpt 256,4,4 --batch 32 [--warmup 2] [--steps 6] [--forwards 3]
       [--threads 2] [--expect image,text,head,total]
"""
import argparse
import json
import math
import sys
import time

# Shared with CleftStepConfig (CleftStepCase.cs).
IMAGE, PATCH, REGISTERS, EMBED, TEXT_LEN = 224, 16, 4, 512, 64
VOCAB, POSITIONS, LORA_R, LORA_ALPHA = 50257, 1024, 8, 32.0
EOS = VOCAB - 1


def lengths(batch):
    """Real tokens per caption, 16..64. Must match CleftStepConfig.CaptionLength."""
    return [16 + b * 13 % 49 for b in range(batch)]


def token_id(b, t):
    """Must match CleftStepConfig.TokenId."""
    return (b * 7919 + t * 104729 + 12345) % EOS


def build(torch, vit, gpt):
    nn, F = torch.nn, torch.nn.functional

    class VitBlock(nn.Module):
        def __init__(self, h, heads):
            super().__init__()
            self.heads = heads
            self.norm1 = nn.LayerNorm(h, eps=1e-6)
            self.query, self.key, self.value, self.dense = (nn.Linear(h, h) for _ in range(4))
            self.layer_scale1 = nn.Parameter(torch.ones(h))
            self.norm2 = nn.LayerNorm(h, eps=1e-6)
            self.fc1, self.fc2 = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)
            self.layer_scale2 = nn.Parameter(torch.ones(h))

        def forward(self, x):
            b, t, h = x.shape
            d = h // self.heads
            y = self.norm1(x)
            q, k, v = (p(y).view(b, t, self.heads, d).transpose(1, 2) for p in (self.query, self.key, self.value))
            a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(d), dim=-1) @ v
            x = x + self.dense(a.transpose(1, 2).reshape(b, t, h)) * self.layer_scale1
            return x + self.fc2(F.gelu(self.fc1(self.norm2(x)))) * self.layer_scale2

    class ImageTower(nn.Module):
        def __init__(self, h, layers, heads):
            super().__init__()
            grid = IMAGE // PATCH
            self.patch = nn.Conv2d(3, h, PATCH, PATCH)
            self.cls_token = nn.Parameter(torch.randn(1, 1, h) * 0.02)
            self.register_tokens = nn.Parameter(torch.zeros(1, REGISTERS, h))
            self.position_embeddings = nn.Parameter(torch.randn(1, 1 + grid * grid, h) * 0.02)
            self.blocks = nn.ModuleList(VitBlock(h, heads) for _ in range(layers))
            self.layernorm = nn.LayerNorm(h, eps=1e-6)  # part of the checkpoint, not of CLEFT's embedding
            self.proj = nn.Linear(h, EMBED)

        def forward(self, pixels):
            b = pixels.shape[0]
            x = self.patch(pixels).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(b, -1, -1), x], 1) + self.position_embeddings
            x = torch.cat([x[:, :1], self.register_tokens.expand(b, -1, -1), x[:, 1:]], 1)
            for block in self.blocks:
                x = block(x)
            return self.proj(x.mean(1))

    class Conv1D(nn.Module):
        """HF GPT-2's Conv1D: y = x W + b with W [in, out]."""
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
            self.bias = nn.Parameter(torch.zeros(n_out))

        def forward(self, x):
            return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)

    class LoraConv1D(Conv1D):
        """PEFT's LoRA on a Conv1D: base + (x A^T) B^T * alpha / r."""
        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out)
            self.lora_A = nn.Parameter(torch.empty(LORA_R, n_in).uniform_(-n_in ** -0.5, n_in ** -0.5))
            self.lora_B = nn.Parameter(torch.zeros(n_out, LORA_R))

        def forward(self, x):
            return super().forward(x) + (x @ self.lora_A.t()) @ self.lora_B.t() * (LORA_ALPHA / LORA_R)

    class GptBlock(nn.Module):
        def __init__(self, c, heads):
            super().__init__()
            self.heads = heads
            self.ln_1, self.ln_2 = nn.LayerNorm(c), nn.LayerNorm(c)
            self.c_attn, self.c_proj = LoraConv1D(c, 3 * c), Conv1D(c, c)
            self.c_fc, self.mlp_proj = Conv1D(c, 4 * c), Conv1D(4 * c, c)

        def forward(self, x, blocked):
            b, t, c = x.shape
            d = c // self.heads
            q, k, v = (z.view(b, t, self.heads, d).transpose(1, 2) for z in self.c_attn(self.ln_1(x)).split(c, dim=2))
            w = (q @ k.transpose(-1, -2)) / math.sqrt(d)
            a = torch.softmax(w.masked_fill(blocked, float("-inf")), dim=-1) @ v
            x = x + self.c_proj(a.transpose(1, 2).reshape(b, t, c))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class TextTower(nn.Module):
        def __init__(self, c, layers, heads):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, c), nn.Embedding(POSITIONS, c)
            self.h = nn.ModuleList(GptBlock(c, heads) for _ in range(layers))
            self.ln_f = nn.LayerNorm(c)
            for name, p in self.named_parameters():
                p.requires_grad_("lora_" in name)  # frozen base, trainable adapters
            self.projection = nn.Linear(c, EMBED)

        def forward(self, ids, blocked, gather):
            b, t = ids.shape
            x = self.wte(ids) + self.wpe(torch.arange(t))
            for block in self.h:
                x = block(x, blocked)
            return self.projection(self.ln_f(x).reshape(b * t, -1).index_select(0, gather))

    class Cleft(nn.Module):
        def __init__(self):
            super().__init__()
            self.image = ImageTower(*vit)
            self.text = TextTower(*gpt)
            self.logit_scale = nn.Parameter(torch.tensor([math.log(1 / 0.07)]))

        def forward(self, pixels, ids, blocked, gather, labels):
            img = F.normalize(self.image(pixels), dim=-1)
            txt = F.normalize(self.text(ids, blocked, gather), dim=-1)
            logits = self.logit_scale.exp() * img @ txt.t()
            return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2

    return Cleft()


def batch_tensors(torch, batch):
    """Pixels, ids, the blocked-attention mask [B, 1, T, T] (causal or padded key), EOS gather index, labels."""
    pixels = torch.rand(batch, 3, IMAGE, IMAGE) * 2 - 1
    ids = torch.full((batch, TEXT_LEN), EOS, dtype=torch.long)
    keys = torch.zeros(batch, TEXT_LEN, dtype=torch.bool)
    gather = []
    for b, n in enumerate(lengths(batch)):
        ids[b, :n] = torch.tensor([token_id(b, t) for t in range(n)])
        keys[b, :n] = True
        gather.append(b * TEXT_LEN + (n if n < TEXT_LEN else TEXT_LEN - 1))  # first pad = EOS, else the last token
    visible = torch.tril(torch.ones(TEXT_LEN, TEXT_LEN, dtype=torch.bool))[None, None] & keys[:, None, None, :]
    return pixels, ids, ~visible, torch.tensor(gather), torch.arange(batch)


def counts(model):
    def trainable(m):
        return sum(p.numel() for p in m.parameters() if p.requires_grad)
    return (trainable(model.image), trainable(model.text), model.logit_scale.numel(),
            sum(p.numel() for p in model.parameters()))


def optimizer(torch, model):
    off_path = {id(p) for p in model.image.layernorm.parameters()}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in off_path or p is model.logit_scale:
            continue
        (no_decay if p.ndim <= 1 or name.endswith("bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0},
              {"params": [model.logit_scale], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


def median_seconds(fn, warmup, count):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[count // 2] if count % 2 else (times[count // 2 - 1] + times[count // 2]) / 2


def peak_rss_mib():
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries that over fork + exec, so a child of a
    large process (the harness) would report its parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vit", default="192,4,3", help="hidden,layers,heads")
    p.add_argument("--gpt", default="256,4,4", help="n_embd,n_layer,n_head")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--forwards", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--expect", help="our counts: image,text,head trainable and total parameters")
    args = p.parse_args()
    import torch
    from torch_gemm import blas_name  # benchmarks/torch_gemm.py, same directory
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vit = tuple(int(x) for x in args.vit.split(","))
    gpt = tuple(int(x) for x in args.gpt.split(","))
    model = build(torch, vit, gpt)
    theirs = counts(model)
    described = (f"trainable {sum(theirs[:3]):,} (image {theirs[0]:,}, text {theirs[1]:,}, head {theirs[2]:,}), "
                 f"total {theirs[3]:,}")
    if args.expect:
        ours = tuple(int(x) for x in args.expect.split(","))
        if ours != theirs:
            print(f"torch_cleft_step.py: parameter counts differ for ViT {args.vit}, GPT-2 {args.gpt}: "
                  f"ours (image, text, head, total) = {ours}, torch = {theirs}", file=sys.stderr)
            return 3
    opt = optimizer(torch, model)
    pixels, ids, blocked, gather, labels = batch_tensors(torch, args.batch)
    max_scale = math.log(100)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(pixels, ids, blocked, gather, labels)
        loss.item()  # our trainer reads the loss before backward (divergence check)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, max_scale)

    def forward():
        model(pixels, ids, blocked, gather, labels).item()

    step_s = median_seconds(step, args.warmup, args.steps)
    forward_s = median_seconds(forward, 0, args.forwards)
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_name(torch),
        "counts": described, "step_seconds": step_s, "forward_seconds": forward_s,
        "peak_rss_mib": peak_rss_mib(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
