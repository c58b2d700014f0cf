#!/usr/bin/env bash
# Installs Open MPI from Debian (openmpi-bin: mpirun; libopenmpi-dev: libmpi.so) for the distributed tests and
# `mpirun -np N cleft pretrain` (docs/DISTRIBUTED.md). Does nothing when mpirun and libmpi.so.40 are already there.
set -euo pipefail
if command -v mpirun > /dev/null && ldconfig -p 2>/dev/null | grep -q 'libmpi\.so\.40'; then exit 0; fi
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev > /dev/null
echo "install-mpi: $(mpirun --version | head -1)"
