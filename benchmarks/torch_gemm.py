#!/usr/bin/python3
"""PyTorch side of the side-by-side harness (benchmarks/Cleft.Benchmarks, `side-by-side`).

Times named cases on 2 threads and prints one JSON object on stdout:
  {"torch": "...", "blas": "...", "threads": 2, "results": [{"case": "gemm", "size": 1024,
   "seconds": median, "gflops": ...}, ...]}
Usage: torch_gemm.py --cases gemm --sizes 256,512,1024 [--threads 2] [--min-seconds 1.0]
Add an op by adding a function to CASES that returns (callable, flop count) for a size.
"""
import argparse
import json
import re
import sys
import time


def blas_name(torch):
    """Which BLAS torch is really using: threadpoolctl if present, else the OpenBLAS library mapped into
    this process (Debian's torch links the generic libblas.so.3 alternative), else the build config."""
    try:
        import threadpoolctl
        infos = threadpoolctl.threadpool_info()
        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')}, "
                f"{i.get('architecture', '?')}, {i.get('num_threads')} threads)"
                for i in infos if i.get("user_api") == "blas"]
        if blas:
            return "; ".join(blas)
    except Exception:
        pass
    try:
        import ctypes
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
        for path in libs:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return (f"{lib.openblas_get_config().decode()} (core {lib.openblas_get_corename().decode()}, "
                    f"{lib.openblas_get_num_threads()} threads; {path})")
    except Exception:
        pass
    found = re.search(r"BLAS_INFO=([^,]*)", torch.__config__.show())
    return f"BLAS_INFO={found.group(1)}" if found else "unknown"


def case_gemm(torch, n):
    a = torch.rand(n, n) * 2 - 1
    b = torch.rand(n, n) * 2 - 1
    c = torch.empty(n, n)
    return (lambda: torch.mm(a, b, out=c)), 2.0 * n * n * n


def case_contrastive(torch, n, d=512):
    """open_clip's ClipLoss forward + backward on [n, 512] embeddings (normalised inside), learnable scale."""
    import torch.nn.functional as F
    img = (torch.rand(n, d) * 2 - 1).requires_grad_()
    txt = (torch.rand(n, d) * 2 - 1).requires_grad_()
    scale = torch.tensor(2.6593, requires_grad=True)
    labels = torch.arange(n)

    def step():
        img.grad = txt.grad = scale.grad = None
        a, b = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
        logits = scale.exp() * a @ b.T
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        loss.backward()
    return step, 6.0 * n * n * d


# Rows of the cleft-step ViT per ViT width: batch x 201 tokens (CleftStepConfig.All and .Tokens in
# benchmarks/Cleft.Benchmarks/CleftStepCase.cs).
STEP_ROWS = {192: 32 * 201, 384: 16 * 201}


def step_shapes(c):
    """(M, N, K) of the ViT MLP's forward, input gradient and two weight gradients (SideBySide.StepGemmShapes)."""
    r = STEP_ROWS[c]
    return [(r, 4 * c, c), (r, c, 4 * c), (4 * c, c, r), (c, 4 * c, r)]


def case_step_gemm(trans_a, trans_b):
    def build(torch, c):
        work = []
        for m, n, k in step_shapes(c):
            a = torch.rand(k, m) * 2 - 1 if trans_a else torch.rand(m, k) * 2 - 1
            b = torch.rand(n, k) * 2 - 1 if trans_b else torch.rand(k, n) * 2 - 1
            work.append((a.t() if trans_a else a, b.t() if trans_b else b, torch.empty(m, n)))

        def run():
            for a, b, c_out in work:
                torch.mm(a, b, out=c_out)
        return run, sum(2.0 * m * n * k for m, n, k in step_shapes(c))
    return build


CASES = {"gemm": case_gemm, "contrastive": case_contrastive,
         "gemm-nn": case_step_gemm(False, False), "gemm-nt": case_step_gemm(False, True),
         "gemm-tn": case_step_gemm(True, False)}

from torch_attention import CASES as ATTENTION_CASES  # noqa: E402 (benchmarks/torch_attention.py, same directory)
CASES.update(ATTENTION_CASES)


def median_seconds(fn, min_seconds, min_reps=5, max_reps=200):
    for _ in range(3):
        fn()  # warm up: first calls allocate and spin up the BLAS threads
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_seconds and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", default="gemm")
    p.add_argument("--sizes", default="256,512,1024,2048")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=1.0)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    for name in args.cases.split(","):
        if name not in CASES:
            print(f"unknown case {name}; known: {', '.join(CASES)}", file=sys.stderr)
            return 2
        for n in (int(x) for x in args.sizes.split(",")):
            fn, flops = CASES[name](torch, n)
            sec = median_seconds(fn, args.min_seconds)
            out["results"].append({"case": name, "size": n, "seconds": sec, "gflops": flops / sec / 1e9})
    out["blas"] = blas_name(torch)  # after the runs, so the BLAS library is loaded and its threads exist
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
