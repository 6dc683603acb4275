#!/usr/bin/env bash
# GPU check: one command for a bare GPU machine that has Python and torch but no network.
#
#   benchmarks/gpu_check.sh                 # run the checks (about 5-8 minutes on one H100/H200)
#   benchmarks/gpu_check.sh --fetch-wheels  # beforehand, on a machine WITH network: the other
#                                           # pure-Python dependencies as wheels in .whl/ (git-ignored)
#
# 1. the equivalence tests on CUDA (a model trained in a group equals it trained alone and the
#    pre-issue reference loop; resume; the device-agnostic library functions);
# 2. one paper-shape group (lin2/h150_d100, 3 seeds, L=100, 10000+10000 sequences, batch 4096)
#    trained for a few epochs through the pipeline's code (benchmarks/gpu_group.py);
# 3. for every (L, H, D) shape of the paper grid: seconds per epoch of the reference loop and of
#    the engine, peak GPU memory, and the projected GPU-hours of the 150-model grid
#    (benchmarks/bench_training.py --only-project).
# Without a CUDA GPU it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=.whl

if [ "${1:-}" = "--fetch-wheels" ]; then
  # versions as in the development environment; Python version of the GPU machine: $PYVER (3.12)
  mkdir -p "$WHEELS"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHEELS" \
    geomloss==0.3.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  ls "$WHEELS"
  exit 0
fi

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  "$PY" -c "import torch; print(f'[gpu_check] no CUDA GPU on this machine (torch {torch.__version__} sees none): nothing to check.')" 2>/dev/null \
    || echo "[gpu_check] no CUDA GPU on this machine (torch not importable): nothing to check."
  exit 0
fi
# pure-Python dependencies the machine may lack (torch, numpy, pyyaml, pandas, pytest, attrs are assumed)
SITE=${TMPDIR:-/tmp}/rnnhmm-gpu-site
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  missing=$("$PY" - <<'PYEOF'
import importlib.util
print(" ".join(m for m in ("geomloss", "jsonschema", "referencing", "rpds") if importlib.util.find_spec(m) is None))
PYEOF
)
  if [ -n "$missing" ]; then
    echo "[gpu_check] installing from $WHEELS/ into $SITE (missing: $missing)"
    for w in "$WHEELS"/*.whl; do
      "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$w" \
        || echo "[gpu_check] could not install $w here (other Python version?): fetch wheels for it with PYVER=X.Y --fetch-wheels"
    done
  fi
fi
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

"$PY" - <<'PYEOF'
import torch
print(f"[gpu_check] torch {torch.__version__}, CUDA {torch.version.cuda}, "
      + ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)} ({torch.cuda.get_device_properties(i).total_memory / 2**30:.0f} GiB)"
                  for i in range(torch.cuda.device_count())))
PYEOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
start=$(date +%s)

echo; echo "[gpu_check] 1/3 equivalence tests on CUDA"
RNNHMM_TEST_DEVICE=cuda "$PY" -m pytest -q -p no:cacheprovider tests/test_engine.py \
  "tests/test_training.py::test_generate_outputs_follows_the_weights_device"

echo; echo "[gpu_check] 2/3 one paper-shape group through the pipeline's code"
"$PY" benchmarks/gpu_group.py --group lin2/h150_d100/s0_1_2 --epochs "${GPU_CHECK_EPOCHS:-3}"

echo; echo "[gpu_check] 3/3 s/epoch per paper shape, reference vs engine; projected GPU-hours"
"$PY" benchmarks/bench_training.py --device cuda --only-project --project-epochs 1 \
  --project-budget "${GPU_CHECK_PROJECT_S:-330}"
echo; echo "[gpu_check] done in $(( $(date +%s) - start )) s"
