#!/usr/bin/env bash
# Installs ptxas, cuobjdump and nvdisasm (CUDA 11.8 from Debian's non-free nvidia-cuda-toolkit) into .tools/ptxas without pulling in
# the toolkit's ~5 GB of dependencies: the .deb is downloaded and unpacked, not installed. ptxas needs only libc.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.tools/cuda"
if [[ -x "$DEST/ptxas" && -x "$DEST/cuobjdump" && -x "$DEST/nvdisasm" ]]; then echo "ptxas, cuobjdump, nvdisasm already in $DEST"; exit 0; fi
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"

# Enable the non-free component by deriving a sources file from the system's own (no host names written here).
SRC=/etc/apt/sources.list.d/debian.sources
NONFREE=/etc/apt/sources.list.d/cleft-nonfree.sources
if [[ ! -f "$NONFREE" ]]; then
  if [[ -f "$SRC" ]]; then
    sed -E 's/^Components:.*/Components: non-free/' "$SRC" | $SUDO tee "$NONFREE" >/dev/null
  elif [[ -f /etc/apt/sources.list ]]; then
    grep -E '^deb ' /etc/apt/sources.list | awk '{ $NF = "non-free"; print }' | sed 's/^deb /deb /' \
      | awk '{ out=$1" "$2" "$3" non-free"; print out }' | $SUDO tee /etc/apt/sources.list.d/cleft-nonfree.list >/dev/null
  else
    echo "install-ptxas: no Debian sources file found to derive non-free from" >&2; exit 1
  fi
fi
$SUDO apt-get update -qq
WORK="$(mktemp -d)"
( cd "$WORK" && apt-get download -qq nvidia-cuda-toolkit )
DEB="$(ls "$WORK"/nvidia-cuda-toolkit_*.deb | head -1)"
dpkg -x "$DEB" "$WORK/x"
PTXAS="$(find "$WORK/x" -type f -name ptxas | head -1)"
if [[ -z "$PTXAS" ]]; then echo "install-ptxas: ptxas not found inside $DEB" >&2; exit 1; fi
mkdir -p "$DEST"
cp "$PTXAS" "$DEST/ptxas"; chmod +x "$DEST/ptxas"
# cuobjdump and the nvdisasm it runs (same .deb) disassemble cubins: the tensor-core test counts HMMA with them.
for tool in cuobjdump nvdisasm; do
  BIN="$(find "$WORK/x" -type f -name "$tool" | head -1)"
  if [[ -n "$BIN" ]]; then cp "$BIN" "$DEST/$tool"; chmod +x "$DEST/$tool"; fi
done
rm -rf "$WORK"
"$DEST/ptxas" --version | tail -2
