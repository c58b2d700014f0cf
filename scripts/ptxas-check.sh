#!/usr/bin/env bash
# Offline CUDA check, no GPU needed: builds the CLI, runs `cleft ptx` for sm_80 and sm_90, assembles every kernel
# with ptxas 11.8 (`ptxas -arch=<arch> -v`) and prints kernel | arch | registers | shared bytes | spill stores/loads.
# Fails on any ptxas error, on a missing report, or if any kernel spills (or uses a stack frame).
#   ptxas:  $CLEFT_PTXAS, else <repo>/.tools/cuda/ptxas (scripts/install-ptxas.sh), else PATH
#   CLI:    built here into a temp dir; $CLEFT_CLI (a command line) replaces it, e.g. CLEFT_CLI="dotnet /x/cleft.dll"
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ARCHS=(sm_80 sm_90)

PTXAS="${CLEFT_PTXAS:-}"
if [[ -z "$PTXAS" ]]; then
  if [[ -x "$ROOT/.tools/cuda/ptxas" ]]; then PTXAS="$ROOT/.tools/cuda/ptxas"; else PTXAS="$(command -v ptxas || true)"; fi
fi
if [[ -z "$PTXAS" || ! -x "$PTXAS" ]]; then
  echo "ptxas-check: ptxas not found (set CLEFT_PTXAS or run scripts/install-ptxas.sh)" >&2; exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [[ -n "${CLEFT_CLI:-}" ]]; then
  read -r -a CLI <<< "$CLEFT_CLI"
else
  # Relocated build dirs (Directory.Build.props) so this never races an in-tree build of the same sources.
  export CLEFT_BUILD_ROOT="${CLEFT_BUILD_ROOT:-$WORK/build}"
  echo "ptxas-check: building src/Cleft.Train (Release)"
  if ! dotnet build "$ROOT/src/Cleft.Train/Cleft.Train.csproj" -c Release -o "$WORK/cli" -v quiet -nologo > "$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2; echo "ptxas-check: build failed" >&2; exit 1
  fi
  CLI=(dotnet "$WORK/cli/cleft.dll")
fi

for arch in "${ARCHS[@]}"; do
  if ! "${CLI[@]}" ptx --arch "$arch" --out "$WORK/ptx"; then
    echo "ptxas-check: 'cleft ptx --arch $arch' failed" >&2; exit 1
  fi
done

echo "ptxas-check: $("$PTXAS" --version | tail -1)"
fail=0
printf '%-24s | %-5s | %9s | %12s | %s\n' kernel arch registers "shared bytes" "spill stores/loads"
printf '%s\n' "-------------------------+-------+-----------+--------------+-------------------"
for arch in "${ARCHS[@]}"; do
  shopt -s nullglob
  files=("$WORK/ptx/"*."$arch".ptx)
  if [[ ${#files[@]} -eq 0 ]]; then echo "ptxas-check: no PTX files for $arch" >&2; exit 1; fi
  for f in "${files[@]}"; do
    kernel="$(basename "$f" ".$arch.ptx")"
    if ! log="$("$PTXAS" -arch="$arch" -v "$f" -o "${f%.ptx}.cubin" 2>&1)" || grep -qi "error" <<< "$log"; then
      echo "ptxas-check: $kernel ($arch) failed to assemble:" >&2; echo "$log" >&2; fail=1; continue
    fi
    regs="$(grep -o 'Used [0-9]* registers' <<< "$log" | grep -o '[0-9]*' | head -1 || true)"
    smem="$(grep -o '[0-9]* bytes smem' <<< "$log" | grep -o '^[0-9]*' | head -1 || true)"
    line="$(grep -o '[0-9]* bytes stack frame, [0-9]* bytes spill stores, [0-9]* bytes spill loads' <<< "$log" | head -1 || true)"
    if [[ -z "$regs" || -z "$line" ]]; then
      echo "ptxas-check: $kernel ($arch): no register/spill report in ptxas -v output:" >&2; echo "$log" >&2; fail=1; continue
    fi
    read -r stack stores loads <<< "$(grep -o '[0-9]\+' <<< "$line" | tr '\n' ' ')"
    printf '%-24s | %-5s | %9s | %12s | %s/%s\n' "$kernel" "$arch" "$regs" "${smem:-0}" "$stores" "$loads"
    if [[ "$stores" != 0 || "$loads" != 0 || "$stack" != 0 ]]; then
      echo "ptxas-check: $kernel spills on $arch ($line)" >&2; fail=1
    fi
  done
done
if [[ $fail -ne 0 ]]; then echo "ptxas-check: FAILED" >&2; exit 1; fi
echo "ptxas-check: all kernels assemble for ${ARCHS[*]} with no stack frame and no spills"
