#!/usr/bin/env bash
# One entry point for a fresh clone: creates .venv on first use, then
#   ./run.sh quick   - the quick pipeline end to end (every figure, tiny models, 2 CPU cores);
#                    ./run.sh quick fig1 builds one figure (extra arguments go after the config)
#   ./run.sh small   - the scientifically meaningful CPU run (config/small.yaml)
#   ./run.sh cpu     - every paper HMM, three seeds each, every figure and claim (config/cpu.yaml, ~1.5 h)
#   ./run.sh cpu150  - the same at the paper's analysed architecture H=150, d=100 (config/cpu150.yaml)
#   ./run.sh paper   - the paper (config/config.yaml; GPU scale)
#   ./run.sh test    - the test suite (unit tests + workflow tests)
# Extra arguments go to snakemake / pytest. TORCH_SPEC overrides the torch requirement that is
# installed first (default torch==2.13.0; on machines with a local CPU wheel it comes from disk).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "[run.sh] installing into .venv (first run only)" >&2
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
  .venv/bin/python -m pip install -q -e ".[workflow,test]"
  touch .venv/.installed
fi
what=${1:-quick}
shift || true
case "$what" in
  quick) exec .venv/bin/snakemake --configfile=config/quick.yaml --cores "${CORES:-2}" "$@" ;;
  small) exec .venv/bin/snakemake --configfile=config/small.yaml --cores "${CORES:-2}" "$@" ;;
  cpu) exec .venv/bin/snakemake --configfile=config/cpu.yaml --cores "${CORES:-2}" "$@" ;;
  cpu150) exec .venv/bin/snakemake --configfile=config/cpu150.yaml --cores "${CORES:-2}" "$@" ;;
  paper) exec .venv/bin/snakemake --configfile=config/config.yaml --cores "${CORES:-8}" "$@" ;;
  test) exec .venv/bin/python -m pytest -q "$@" ;;
  *) echo "usage: ./run.sh {quick|small|cpu|cpu150|paper|test} [extra args]" >&2; exit 2 ;;
esac
