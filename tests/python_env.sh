#!/usr/bin/env bash
# Sets up the Python that tests/test_export_onnx.cpp runs the exported model with: a virtual
# environment (default /opt/sc-pyenv) holding onnxruntime and numpy from PyPI, on Debian's
# python3. Prints the path of its python. scripts/test.sh runs this before CTest, so CI runs
# the ONNX test; without the environment that test skips and says so.
#   SC_PYENV (default /opt/sc-pyenv): where the environment lives (the test reads it too)
# Usage: bash tests/python_env.sh
set -euo pipefail
VENV=${SC_PYENV:-/opt/sc-pyenv}
if ! "$VENV/bin/python" -c "import onnxruntime, numpy" >/dev/null 2>&1; then
  echo "== creating $VENV with onnxruntime and numpy from PyPI (about 50 MB)" >&2
  if ! /usr/bin/python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian splits venv (and ensurepip) out of python3.
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >&2
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check onnxruntime numpy >&2
fi
"$VENV/bin/python" -c "import onnxruntime, numpy; print('== onnxruntime', onnxruntime.__version__, 'and numpy', numpy.__version__, 'in $VENV')" >&2
echo "$VENV/bin/python"
