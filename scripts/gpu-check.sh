#!/usr/bin/env bash
# One unattended CUDA check for a machine lent an NVIDIA GPU (docs/GPU.md). Two parts:
#   1. where the .NET SDK is: publish src/Cleft.Train as a self-contained single-file linux-x64 `cleft` into
#      out/gpu-check/ (the GPU machine has neither .NET nor network, so it gets a binary that needs neither);
#   2. where nvidia-smi is: device and driver, `cleft devices`, a 1-rank NCCL check (`cleft devices --dist-check
#      nccl`: all-reduce, all-gather, broadcast, gather-with-grad on the GPU; skipped, not failed, when libnccl.so.2
#      is not installed, which the command names), the bf16 tensor-core GEMM and attention against the CPU
#      (`cleft devices --tensor-core-check`), `cleft mlp` on CUDA, `cleft demo` on CUDA and on CPU, both results
#      tables and the largest per-step difference between the two stage-1 loss curves.
# Every step runs under what is left of one overall time limit and reports its exit code; the last line is
# "gpu-check: N passed, M failed" and the exit status is 1 when M > 0. Without a CUDA device part 2 says so and
# is skipped, which is not a failure.
#
# Usage: gpu-check.sh [--run] [--no-publish]
#   --run         skip the publish and run part 2 (what to use on the GPU machine)
#   --no-publish  skip the publish (part 2 still runs when nvidia-smi is found)
#   gpu-check.sh --compare A.jsonl B.jsonl   print the largest |loss_A - loss_B| over the "train" steps both share
# Environment:
#   CLEFT_GPU_CHECK_TIMEOUT    overall limit in seconds (default 540: under a 10-minute per-command device limit)
#   CLEFT_GPU_CHECK_DEMO_ARGS  extra `cleft demo` arguments for both demos, e.g. "--steps 100 --prompt-steps 50"
#   CLEFT_GPU_CHECK_NVIDIA_SMI the nvidia-smi command (default nvidia-smi; tests point it at a missing name)
#   CLEFT_GPU_CHECK_BIN        the cleft binary to run (default out/gpu-check/cleft)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# Largest |loss_A - loss_B| over the steps both metrics.jsonl files log as kind "train". awk, not jq or python:
# awk is on every machine, and these are flat one-line JSON objects our own trainer writes.
compare_losses() {
  awk '
    function field(name,   m) {
      if (match($0, "\"" name "\":[-+0-9.eE]+")) { m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":/, "", m); return m }
      return ""
    }
    FNR == 1 { file++ }
    /"kind":"train"/ {
      step = field("step"); loss = field("loss")
      if (step == "" || loss == "") next
      if (file == 1) { a[step] = loss + 0; next }
      if (step in a) { d = loss - a[step]; if (d < 0) d = -d; n++; if (n == 1 || d > max) { max = d; at = step } }
    }
    END {
      if (n == 0) { print "no train steps in common between " ARGV[1] " and " ARGV[2] > "/dev/stderr"; exit 1 }
      printf "max |loss difference| %.6g at step %s over %d shared steps\n", max, at, n
    }' "$1" "$2"
}

if [[ "${1:-}" == "--compare" ]]; then
  if [[ $# -ne 3 ]]; then echo "usage: gpu-check.sh --compare A.jsonl B.jsonl" >&2; exit 2; fi
  for f in "$2" "$3"; do [[ -f "$f" ]] || { echo "gpu-check: $f: no such file" >&2; exit 2; }; done
  compare_losses "$2" "$3"; exit $?
fi

publish=1
for arg in "$@"; do
  case "$arg" in
    --run|--no-publish) publish=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

LIMIT="${CLEFT_GPU_CHECK_TIMEOUT:-540}"
[[ "$LIMIT" =~ ^[1-9][0-9]*$ ]] || { echo "gpu-check: CLEFT_GPU_CHECK_TIMEOUT='$LIMIT' is not a positive number of seconds" >&2; exit 2; }
DEADLINE=$((SECONDS + LIMIT))
SMI="${CLEFT_GPU_CHECK_NVIDIA_SMI:-nvidia-smi}"
CLEFT="${CLEFT_GPU_CHECK_BIN:-$ROOT/out/gpu-check/cleft}"
read -r -a DEMO_ARGS <<< "${CLEFT_GPU_CHECK_DEMO_ARGS:-}"
passed=0 failed=0

# step NAME CMD...: runs CMD under the time left, its output shown as it comes, and records pass or fail.
step() {
  local name="$1"; shift
  local left=$((DEADLINE - SECONDS)) start=$SECONDS rc
  if ((left <= 0)); then
    echo "gpu-check: [FAIL] $name: not started, the ${LIMIT} s limit is spent"; failed=$((failed + 1)); return 1
  fi
  echo "gpu-check: --- $name: $*"
  timeout --kill-after=10 "$left" "$@"; rc=$?
  if ((rc == 0)); then
    echo "gpu-check: [ok] $name (exit 0, $((SECONDS - start)) s)"; passed=$((passed + 1))
  else
    local why=""; ((rc == 124 || rc == 137)) && why=", stopped by the ${LIMIT} s limit"
    echo "gpu-check: [FAIL] $name (exit $rc$why, $((SECONDS - start)) s)"; failed=$((failed + 1))
  fi
  return "$rc"
}

summary() { echo "gpu-check: $passed passed, $failed failed"; ((failed == 0)); exit $?; }

echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), limit ${LIMIT} s"

if ((publish)); then
  if command -v dotnet > /dev/null; then
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    # Relocated bin/obj (Directory.Build.props) so the publish never races an in-tree build of the same sources.
    export CLEFT_BUILD_ROOT="${CLEFT_BUILD_ROOT:-$ROOT/out/gpu-check-build}"
    rm -rf "$ROOT/out/gpu-check"
    step publish dotnet publish "$ROOT/src/Cleft.Train/Cleft.Train.csproj" -c Release -r linux-x64 --self-contained \
      -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:DebugType=none -o "$ROOT/out/gpu-check" -nologo -v quiet \
      && echo "gpu-check: out/gpu-check is $(du -sh "$ROOT/out/gpu-check" | cut -f1): $(cd "$ROOT/out/gpu-check" && echo *)"
  else
    echo "gpu-check: no dotnet here, publish skipped (run this script where the .NET SDK is, then copy out/gpu-check)"
  fi
fi

if ! command -v "$SMI" > /dev/null; then
  echo "gpu-check: no CUDA device ($SMI not found): GPU steps skipped"
  summary
fi
step device "$SMI" --query-gpu=name,driver_version,memory.total --format=csv || summary
if [[ ! -x "$CLEFT" ]]; then
  echo "gpu-check: [FAIL] $CLEFT not found or not executable (publish it with scripts/gpu-check.sh where .NET is)"
  failed=$((failed + 1)); summary
fi
step devices "$CLEFT" devices
# NCCL is not in the published binary: it comes with CUDA or pip's nvidia-nccl-cu12 (docs/DISTRIBUTED.md).
NCCL_LOG="$(mktemp)"
if ! step nccl-check bash -c '"$0" devices --dist-check nccl --device cuda 2>&1 | tee "$1"; exit "${PIPESTATUS[0]}"' "$CLEFT" "$NCCL_LOG" \
   && grep -q 'libnccl.so.2 (NCCL) not found' "$NCCL_LOG"; then
  failed=$((failed - 1))
  echo "gpu-check: [skip] nccl-check: libnccl.so.2 is not installed here (places searched above): not counted as a failure, but the NCCL path went unexercised"
fi
rm -f "$NCCL_LOG"
# The first hardware check of the mma.sync fragment layouts the kernels' CPU emulation assumes (docs/TENSOR_CORES.md).
step tensor-cores "$CLEFT" devices --tensor-core-check --device cuda
step mlp-cuda "$CLEFT" mlp --device cuda --steps 200
step demo-cuda "$CLEFT" demo --device cuda --out "$ROOT/out/gpu-demo" "${DEMO_ARGS[@]}"
step demo-cpu "$CLEFT" demo --device cpu --out "$ROOT/out/cpu-demo" "${DEMO_ARGS[@]}"
for d in gpu-demo cpu-demo; do
  [[ -f "$ROOT/out/$d/results.md" ]] && { echo "gpu-check: out/$d/results.md"; cat "$ROOT/out/$d/results.md"; }
done
step loss-compare bash "$0" --compare "$ROOT/out/gpu-demo/pretrain/metrics.jsonl" "$ROOT/out/cpu-demo/pretrain/metrics.jsonl"
summary
