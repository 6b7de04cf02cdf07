#!/usr/bin/env bash
# Sets up the benchmark and quality peer: the newest PyTorch from PyPI, in its own virtual
# environment (default /opt/torch-bench), and prints the path of its python. Every bench
# script that compares with PyTorch gets its interpreter from here, so no figure silently
# falls back to another torch. A torch built without an optimised BLAS/oneDNN (the generic
# reference BLAS) is refused: timing against it would flatter us.
#   TORCH_VENV (default /opt/torch-bench)
#   TORCH_PYTHON: use this interpreter instead (it is checked the same way, not installed into)
# Usage: TORCH_PYTHON=$(bash bench/torch_peer.sh)
set -euo pipefail
VENV=${TORCH_VENV:-/opt/torch-bench}
PYTHON=${TORCH_PYTHON:-$VENV/bin/python}
if [ -n "${TORCH_PYTHON:-}" ]; then
  "$PYTHON" -c "import torch" || { echo "error: TORCH_PYTHON=$PYTHON cannot import torch" >&2; exit 1; }
elif ! "$VENV/bin/python" -c "import torch, torchvision, numpy" >/dev/null 2>&1; then
  echo "== creating $VENV with the newest torch, torchvision and numpy from PyPI (a few GB; minutes)" >&2
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    apt-get install -y -qq python3-venv >&2
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q torch torchvision numpy >&2
fi
# The build must have an optimised math library: MKL or OpenBLAS for BLAS, and oneDNN
# (mkldnn) for convolutions.
if ! "$PYTHON" - >&2 <<'PY'
import sys, torch
config = torch.__config__.show()
has_blas = any(name in config for name in ("BLAS_INFO=mkl", "BLAS_INFO=open", "LAPACK_INFO=mkl", "USE_MKL=ON", "USE_OPENBLAS=ON"))
has_onednn = torch.backends.mkldnn.is_available()
print(f"torch {torch.__version__}: optimised BLAS {'yes' if has_blas else 'NO'}, oneDNN {'yes' if has_onednn else 'NO'}")
sys.exit(0 if has_blas and has_onednn else 1)
PY
then
  echo "error: the torch of $PYTHON has no optimised BLAS or no oneDNN: it is no peer for timings" >&2
  exit 1
fi
echo "$PYTHON"
