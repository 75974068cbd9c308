#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py; its docstring says what it does):
#   bash scripts/gpu_check.sh [--dry-run] [--data DIR] [--out DIR] [--budget SECONDS]
#   bash scripts/gpu_check.sh --stage     # here, online: .whl/ and data/cifar10-jpeg/ for a bare GPU image
# Thin wrapper: it only picks the Python and, on a GPU image that lacks papermill/ipykernel/torchsummary/thop,
# installs the wheels carried in .whl/ into a temporary folder (nothing is fetched: such machines are offline).
set -u
cd "$(dirname "$0")/.." || exit 1

# the repository's venv where there is one (here, CI), else the image's python3 (the GPU machine's has torch)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

if ls .whl/*.whl >/dev/null 2>&1 && ! "$PY" -c "import papermill, ipykernel, torchsummary, thop" 2>/dev/null; then
  SITE=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-site.XXXXXX")
  # --no-deps: .whl/ holds the whole set the image lacks; a failed install is not fatal (the notebook rows say why)
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
       --target "$SITE" .whl/*.whl; then
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    export PATH="$SITE/bin:$PATH"
  else
    echo "gpu_check.sh: installing .whl/ failed; the notebooks will be skipped" >&2
  fi
fi

export PYTHONUNBUFFERED=1        # progress lines appear as they happen, also through a pipe
exec "$PY" benchmarks/gpu_check.py "$@"
