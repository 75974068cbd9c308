#!/usr/bin/env bash
# Run a subset of the tests against Colab's library versions (.ci/run's Colab-pins tier; the first install
# takes minutes and ~5 GB, reused after). Colab's published backend-info (August 2026): Python 3.13, torch 2.11.0,
# torchvision 0.26.0, numpy 2.1.3, pandas 2.2.3, matplotlib 3.10.0, scikit-learn 1.6.1,
# nbconvert 7.17.1, tqdm 4.67.3. This uses the machine's own Python (PYTHON=python3.13 to match
# Colab's where one is installed); every pin installs on Python 3.11 from PyPI (torch 2.11.0 comes as
# +cu130 there, Colab has +cu128: the same release). Run on 2026-11-23 (Python 3.11.7, 2 CPU cores):
# 75 passed (pytest: 7 min), after an install of a few minutes. Run on 2026-12-05 with Python 3.13.0 (pyenv),
# AMD EPYC (AVX-512, bf16), load average 10-14: CI's four files whole (slow tests included) 45 passed in 28 min
# (7.7 min of CPU for the install and the tests together).
#
#   bash scripts/test_colab_pins.sh               # venv in .venv-colab (reused), then the tests
#   bash scripts/test_colab_pins.sh -k resnet     # extra pytest arguments
#   COLAB_PINS_TESTS="tests/test_data.py" bash scripts/test_colab_pins.sh   # other test files (.ci/run's tier)
#
# The subset: models, data, the training loop (fit, and the T4 road), the notebooks (papermill + nbval) and the
# Colab setup (the setup cell's pip installs, precision), the T4 road (fp16 + GradScaler forced on the CPU). Data: ../shared/data/cifar10-subset or LABKIT_SHARED_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
# Colab's Python where this machine has it (pyenv's 3.13 too), else python3
PY=${PYTHON:-$(command -v python3.13 >/dev/null 2>&1 && python3.13 -c "" 2>/dev/null && echo python3.13 \
  || { [ -x "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3.13" ] && echo "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3.13"; } \
  || echo python3)}
VENV=${VENV:-.venv-colab}
COLAB_PINS="torch==2.11.0 torchvision==0.26.0 numpy==2.1.3 pandas==2.2.3 matplotlib==3.10.0 scikit-learn==1.6.1
  nbconvert==7.17.1 tqdm==4.67.3"
# what Colab lacks and labkit's notebooks or the tests need (requirements-colab.txt + test tools)
EXTRA="torchsummary==1.5.1 ultralytics-thop==2.2.3 tabulate nbformat papermill ipykernel pytest nbval jupytext setuptools"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q $COLAB_PINS $EXTRA
"$VENV/bin/python" -c 'import torch, torchvision, numpy, pandas, matplotlib, sklearn, sys
print("python", sys.version.split()[0], "| torch", torch.__version__, "| torchvision", torchvision.__version__,
      "| numpy", numpy.__version__, "| pandas", pandas.__version__, "| matplotlib", matplotlib.__version__,
      "| scikit-learn", sklearn.__version__)'
# labkit from this checkout (not installed into the venv); papermill's kernels inherit PYTHONPATH
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TESTS=${COLAB_PINS_TESTS:-tests/test_models.py tests/test_data.py tests/test_train.py tests/test_t4_road.py \
  tests/test_notebooks.py tests/test_colab.py}
# shellcheck disable=SC2086
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider $TESTS "$@"
