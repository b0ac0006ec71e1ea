"""Convert a GGUF model into an HF folder for vLLM (run with the vLLM venv's python: transformers,
gguf and accelerate). Usage: gguf_to_hf.py MODEL.gguf TARGET_DIR [--chat-template FILE]

The weights come out de-quantized (float32). A template file, when given, becomes the folder's chat
template (for GGUFs that carry none, as Gemma-3-270M's)."""

import argparse
import shutil
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

parser = argparse.ArgumentParser()
parser.add_argument("gguf", type=Path)
parser.add_argument("target", type=Path)
parser.add_argument("--chat-template", type=Path)
args = parser.parse_args()
gguf, target = args.gguf, args.target
tmp = target.with_name(target.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
# transformers still marks the model GGUF-quantized and refuses to save it; nothing quantized is left.
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
if args.chat_template is not None:
    tokenizer.chat_template = args.chat_template.read_text()
model.save_pretrained(tmp)
tokenizer.save_pretrained(tmp)
shutil.rmtree(target, ignore_errors=True)
tmp.rename(target)  # a run cut short leaves no half-written model behind
