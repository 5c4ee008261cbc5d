import os
import stat

import pytest

from seqtune.records import usual_mode
from seqtune.tiny_model import TinySpec, build_tiny_model, built_with

TEXTS = ["First repeat the input, then answer.", "Twitter, Instagram, Telegram", "中文 {braces}"] * 20
SMALL = TinySpec(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1)


def test_tiny_model_records_its_spec_and_is_rebuilt_for_another(torch, tmp_path):
    folder = build_tiny_model(tmp_path / "base", TEXTS, SMALL)
    assert built_with(folder, SMALL)
    assert not built_with(folder, TinySpec(vocab_size=300, hidden_size=32, intermediate_size=64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]  # no staging folder left behind
    assert (folder / "model.safetensors").is_file()


def test_tiny_model_folder_and_files_are_not_private(torch, tmp_path):
    folder = build_tiny_model(tmp_path / "base", TEXTS, SMALL)
    assert stat.S_IMODE(os.stat(folder).st_mode) == usual_mode(directory=True)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert "model.safetensors" in modes  # safetensors writes it 0600
    assert set(modes.values()) == {usual_mode(directory=False)}, modes


def test_a_killed_builds_staging_folder_is_removed_by_the_next_build(torch, tmp_path):
    (tmp_path / ".base.k1lled00").mkdir()  # what mkdtemp(prefix=".base.") left when its process was killed
    build_tiny_model(tmp_path / "base", TEXTS, SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]


def test_a_failed_build_leaves_no_staging_folder(torch, tmp_path, monkeypatch):
    from transformers import PreTrainedTokenizerFast

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(PreTrainedTokenizerFast, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space"):
        build_tiny_model(tmp_path / "base", TEXTS, SMALL)
    assert list(tmp_path.iterdir()) == []


def test_every_part_of_a_tiny_instructblip_gets_random_weights_of_the_specs_scale(torch, tmp_path):
    """Not the released models' 0.02 (at hidden size 64 the demo's model never learned to look at the image with
    it): every part, the language model included, at `init_std`."""
    from safetensors.torch import load_file

    from seqtune.tiny_model import TinyBlipSpec, build_tiny_instructblip

    spec = TinyBlipSpec(text=SMALL)
    folder = build_tiny_instructblip(tmp_path / "blip", TEXTS, spec)
    weights = load_file(str(folder / "model.safetensors"))
    parts = (
        "vision_model.embeddings.patch_embedding.weight",
        "vision_model.encoder.layers.0.self_attn.qkv.weight",
        "qformer.encoder.layer.0.crossattention.attention.value.weight",
        "query_tokens",
        "language_projection.weight",
        "language_model.model.layers.0.self_attn.q_proj.weight",
        "language_model.model.embed_tokens.weight",
    )
    for name in parts:
        assert weights[name].std().item() == pytest.approx(spec.init_std, rel=0.2), name
