#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with labkit and everything it needs,
# plus (when run as root on Debian/Ubuntu) Chromium, CJK fonts, poppler and MathJax for the PDF export.
# Idempotent: re-running skips what is already there.
set -euo pipefail
if [ -n "${COLAB_RELEASE_TAG:-}" ] || compgen -G "/usr/local/lib/python3*/dist-packages/google/colab" >/dev/null; then
  # Colab: its own torch matches its GPU driver; requirements.txt's pinned CUDA build may not (the GPU disappears)
  echo "scripts/setup.sh is for a machine of your own, not Colab: there, run the notebook's first cell (the setup" >&2
  echo "cell installs labkit with pip and keeps Colab's torch), or: pip install -e <labkit folder>" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat >.venv/labkit-install.log 2>&1 || { cat .venv/labkit-install.log; exit 1; }  # compat: the root a plain sys.path entry, so the package beats a ./labkit folder (cd ..; labkit/.venv/bin/python -m labkit...)
PDF_PKGS="chromium fonts-noto-cjk poppler-utils libjs-mathjax"  # browser, CJK fonts, pdftoppm, offline MathJax
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for pkg in $PDF_PKGS; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    echo "installing$missing (PDF export)..."
    apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
      || echo "warning: could not install$missing; the PDF export tests that need them will be skipped"
  fi
fi
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
mkdir -p runs  # papermill writes executed notebooks there and does not create the folder
echo "setup done: $(.venv/bin/python -c 'import torch, labkit; print("torch", torch.__version__, "labkit", labkit.__version__)')"
