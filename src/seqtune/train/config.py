"""TrainConfig: every setting of `seqtune train`; the docstring under each field is its --help text.

The defaults are the SIT paper's text setting (LoRA on q/k/v, r 8, alpha 16, dropout 0.05, lr 3e-4, global batch
128, 5 epochs, dev evaluation every 200 update steps, best dev loss kept, cutoff 512, Alpaca template).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqtune.errors import ConfigError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
TINY_FAMILIES = {"tiny": "causal_lm", "tiny-instructblip": "instructblip"}
"""Models built by training rather than loaded (a small random model, its tokenizer trained on the data), and their
family."""


@dataclass
class TrainConfig:
    data: str
    """Training data: a JSON/JSONL(.gz) file of Alpaca-format or sequential records (instruction, input, output)."""
    output_dir: str
    """Output folder: model/ (adapter or full model), checkpoints/, config.yaml, manifest.json, logs."""
    model: str = "tiny"
    """Base model: a Hugging Face hub id, a local folder, `tiny` (a tiny Llama built from the training text) or
    `tiny-instructblip` (a tiny InstructBLIP: small ViT, small Q-Former, that tiny Llama)."""
    model_family: Literal["auto", "causal_lm", "instructblip"] = "auto"
    """`causal_lm` (text records) or `instructblip` (records with an `image`); `auto`: from the model's config."""
    finetune: Literal["lora", "full", "qformer"] = "lora"
    """`lora`: train a PEFT LoRA adapter on the attention projections; `full`: train every weight; `qformer`
    (InstructBLIP, the paper's): train the Q-Former, its query tokens and the language projection, nothing else."""
    image_root: str | None = None
    """InstructBLIP: folder the records' relative `image` paths are under (unset: relative to the working folder)."""
    template: str = "alpaca"
    """Prompt template: `alpaca` (the paper's), `chat` (the model's own chat template) or a JSON file."""
    train_on_inputs: bool = False
    """Also compute the loss on the prompt tokens (the reference alpaca-lora code's behaviour)."""
    cutoff_len: int = 512
    """Longest training sequence in tokens (prompt + response + EOS); longer ones are cut at the end."""
    dev_data: str | None = None
    """Held-out dev file; when unset, `dev_size` records are drawn (seeded) from `data`."""
    dev_size: int = 2000
    """Number of records held out from `data` for the dev loss when `dev_data` is unset (0: no evaluation)."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA branch."""
    target_modules: list[str] = field(default_factory=list)
    """LoRA target module names; empty: the q/k/v projections of the model's architecture."""
    learning_rate: float = 3e-4
    """Peak learning rate."""
    lr_scheduler: str = "linear"
    """Learning-rate schedule (a transformers scheduler name: linear, cosine, constant_with_warmup, ...)."""
    warmup_steps: int = 100
    """Linear warm-up in optimizer steps (alpaca-lora uses 100)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    global_batch_size: int = 128
    """Examples per optimizer step over all processes; accumulation = global / (micro batch × processes)."""
    micro_batch_size: int = 4
    """Examples per forward pass on each process."""
    epochs: float = 5.0
    """Passes over the training data."""
    max_steps: int = -1
    """Stop after this many optimizer steps (overrides epochs when > 0; for smoke tests and benchmarks)."""
    eval_steps: int = 200
    """Evaluate on the dev split (and save a checkpoint) every this many optimizer steps."""
    keep_best: bool = True
    """Restore the checkpoint with the lowest dev loss at the end (needs a dev split)."""
    save_total_limit: int = 3
    """Most checkpoints kept on disk (the best one is always kept)."""
    batching: Literal["auto", "padding_free", "grouped", "packed", "padded"] = "auto"
    """`padding_free`: each micro-batch is one flattened row with per-example positions (no padding, no attention
    across examples, same examples per step as the paper) — cheap with flash attention, which skips the other
    examples, costly with sdpa, which attends over the whole row under a block-diagonal mask; `grouped`: padded
    micro-batches of similar lengths (transformers' length-grouped sampler), so little padding and plain
    attention; `packed`: TRL best-fit packing into rows of cutoff_len tokens (a step then counts rows, not
    examples); `padded`: the reference code's padding to the longest in a random micro-batch.
    `auto`: padding_free with flash attention, else grouped."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% slower."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Mixed precision; `auto`: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."""
    attn_implementation: str = "auto"
    """Attention kernel; `auto`: flash_attention_2 where installed on a GPU, else sdpa."""
    use_liger_kernel: bool = False
    """Use Liger kernels (fused RMSNorm/RoPE/SwiGLU/cross-entropy; needs the liger-kernel package and a GPU)."""
    torch_compile: bool = False
    """Compile the model with torch.compile."""
    trust_remote_code: bool = False
    """Allow model code from the hub (off unless you trust the repository)."""
    seed: int = 42
    """Seed for the dev split, initialisation of LoRA weights, dropout and data order."""
    resume: bool = False
    """Continue from the latest checkpoint in output_dir/checkpoints."""
    logging_steps: int = 10
    """Log the training loss every this many optimizer steps."""
    report_to: str = "auto"
    """Where to log: `auto` (TensorBoard where installed), `none`, or a transformers integration name."""
    tokenize_batch_size: int = 1000
    """Records tokenized per call of the (fast, multi-threaded) tokenizer."""
    on_error: Literal["fail", "skip"] = "fail"
    """Bad records: `fail` stops at the first one; `skip` skips and counts them by reason."""
    tiny_hidden_size: int = 64
    """model=tiny: hidden size."""
    tiny_layers: int = 2
    """model=tiny: number of layers."""
    tiny_vocab_size: int = 2048
    """model=tiny: size of the BPE vocabulary trained on the training text."""
    tiny_language_model: str | None = None
    """model=tiny-instructblip: a causal-LM folder used as its (frozen) language model, e.g. the model/ of a
    `model=tiny finetune=full` run on the same text; unset: a random tiny Llama (tiny_* sizes)."""

    def validate(self) -> None:
        positive = (
            "cutoff_len",
            "global_batch_size",
            "micro_batch_size",
            "eval_steps",
            "logging_steps",
            "lora_r",
            "lora_alpha",
            "save_total_limit",
            "tokenize_batch_size",
            "tiny_hidden_size",
            "tiny_layers",
            "tiny_vocab_size",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.global_batch_size % self.micro_batch_size:
            raise ConfigError(
                f"global_batch_size ({self.global_batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size})"
            )
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate: must be positive, got {self.learning_rate}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("set epochs > 0 or max_steps > 0")
        if self.dev_size < 0 or self.warmup_steps < 0 or self.weight_decay < 0:
            raise ConfigError("dev_size, warmup_steps and weight_decay must not be negative")
        if self.keep_best and self.dev_data is None and self.dev_size == 0:
            raise ConfigError("keep_best needs a dev split: set dev_size > 0, dev_data, or keep_best=false")
        if self.finetune == "full" and self.target_modules:
            raise ConfigError("target_modules only applies to finetune=lora")
        family = self.family()
        allowed = {"causal_lm": ("lora", "full"), "instructblip": ("qformer", "full")}[family]
        if self.finetune not in allowed:
            raise ConfigError(
                f"finetune={self.finetune} does not apply to model_family={family}: use {' or '.join(allowed)}"
            )
        if family == "instructblip" and self.batching in ("padding_free", "packed"):
            raise ConfigError(f"batching={self.batching} does not keep images apart: use grouped or padded")
        if self.model == "tiny" and self.finetune == "lora" and self.tiny_hidden_size % 4:
            raise ConfigError("tiny_hidden_size must be a multiple of 4 (the tiny model has 4 heads)")

    def family(self) -> str:
        """`model_family`, or for `auto` the family of `model`: its config.json's model_type where it is a local
        folder, the finetune setting for a hub id (`qformer` is InstructBLIP's)."""
        if self.model_family != "auto":
            return self.model_family
        if self.model in TINY_FAMILIES:
            return TINY_FAMILIES[self.model]
        config = Path(self.model) / "config.json"
        if config.is_file():
            try:
                model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
            except (json.JSONDecodeError, AttributeError):
                raise ConfigError(f"model: {config} is not a JSON object") from None
            return "instructblip" if model_type == "instructblip" else "causal_lm"
        return "instructblip" if self.finetune == "qformer" else "causal_lm"

    def check_paths(self) -> None:
        """Checks of files on disk, run when training starts (a pipeline builds this config before its data
        exists) and still before any model is loaded."""
        built = self.model in TINY_FAMILIES
        if not built and not Path(self.model).exists() and self.model.count("/") > 1:
            raise ConfigError(f"model: '{self.model}' is neither a local folder nor a hub id (owner/name)")
        if not built and Path(self.model).exists():
            _check_model_folder(Path(self.model))
        if self.tiny_language_model is not None:
            _check_model_folder(Path(self.tiny_language_model))
        if self.image_root is not None and not Path(self.image_root).is_dir():
            raise ConfigError(f"image_root: folder not found: {self.image_root}")
        for name in ("data", "dev_data"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name}: file not found: {path}")


def _check_model_folder(folder: Path) -> None:
    """A local base model must hold what training loads: its config, safetensors weights and a tokenizer."""
    if not folder.is_dir():
        raise ConfigError(f"model: '{folder}' is a file, not a model folder")
    if (folder / "seqtune_model.json").is_file():  # instructblip.MODEL_FILE, spelled here to stay torch-free
        raise ConfigError(
            f"model: '{folder}' holds only the trained weights of a finetune=qformer run, not a model to train "
            "(its base model is named in seqtune_model.json)"
        )
    missing = [
        what
        for what, present in (
            ("config.json", (folder / "config.json").is_file()),
            ("*.safetensors weights", any(folder.glob("*.safetensors"))),
            ("a tokenizer", any((folder / name).is_file() for name in TOKENIZER_FILES)),
        )
        if not present
    ]
    if missing:
        raise ConfigError(f"model: '{folder}' holds no model to train (missing {', '.join(missing)})")
