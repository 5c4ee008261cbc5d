"""Shared test set-up: no network, caches in temporary folders, paths to the real shared data, and the one tiny
model that the tests train and generate with."""

import os
import tempfile
from pathlib import Path

import pytest

import seqtune

_CACHE = tempfile.mkdtemp(prefix="seqtune-test-cache-")
os.environ["HF_HOME"] = os.path.join(_CACHE, "hf")
os.environ["MPLCONFIGDIR"] = os.path.join(_CACHE, "mpl")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("OPENAI_API_KEY", None)

REPO = Path(__file__).resolve().parents[1]
SRC = Path(seqtune.__file__).resolve().parents[1]
"""The source folder this session imports seqtune from: the PYTHONPATH of the subprocesses a test starts."""
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN_DATA = FIXTURES / "train" / "train.jsonl"
DEV_DATA = FIXTURES / "train" / "dev.jsonl"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def torch():
    """torch for the tests that need it; the others (help, config errors) also run where it is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny_model(torch, tmp_path_factory) -> Path:
    """A tiny Llama (hidden 32, 1 layer, 512 BPE tokens) built from the training fixtures and the Alpaca template:
    random (seeded) weights, so a test that needs behaviour trains it or sets its weights itself."""
    from seqtune.prompts import get_template
    from seqtune.records import iter_json_records
    from seqtune.tiny_model import TinySpec, build_tiny_model

    template = get_template("alpaca")
    texts = [template.prompt_input, template.prompt_no_input]
    for path in (TRAIN_DATA, DEV_DATA):
        for _, record in iter_json_records(path):
            texts += [record["instruction"], record["input"], record["output"]]
    spec = TinySpec(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts, spec)
