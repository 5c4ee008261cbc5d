from seqtune.tiny_model import TinySpec, build_tiny_model, built_with

TEXTS = ["First repeat the input, then answer.", "Twitter, Instagram, Telegram", "中文 {braces}"] * 20


def test_tiny_model_records_its_spec_and_is_rebuilt_for_another(tmp_path):
    small = TinySpec(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    folder = build_tiny_model(tmp_path / "base", TEXTS, small)
    assert built_with(folder, small)
    assert not built_with(folder, TinySpec(vocab_size=300, hidden_size=32, intermediate_size=64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]  # no staging folder left behind
    assert (folder / "model.safetensors").is_file()


def test_tiny_model_folder_is_not_private(tmp_path):
    import os
    import stat

    from seqtune.records import usual_mode

    spec = TinySpec(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    folder = build_tiny_model(tmp_path / "base", TEXTS, spec)
    assert stat.S_IMODE(os.stat(folder).st_mode) == usual_mode(directory=True)
