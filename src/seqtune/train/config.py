"""TrainConfig: every setting of `seqtune train`; the docstring under each field is its --help text.

The defaults are the SIT paper's text setting (LoRA on q/k/v, r 8, alpha 16, dropout 0.05, lr 3e-4, global batch
128, 5 epochs, dev evaluation every 200 update steps, best dev loss kept, cutoff 512, Alpaca template).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqtune.errors import ConfigError


@dataclass
class TrainConfig:
    data: str
    """Training data: a JSON/JSONL(.gz) file of Alpaca-format or sequential records (instruction, input, output)."""
    output_dir: str
    """Output folder: model/ (adapter or full model), checkpoints/, config.yaml, manifest.json, logs."""
    model: str = "tiny"
    """Base model: a Hugging Face hub id, a local folder, or `tiny` (a tiny Llama built from the training text)."""
    finetune: Literal["lora", "full"] = "lora"
    """`lora`: train a PEFT LoRA adapter on the attention projections; `full`: train every weight."""
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
        if self.model == "tiny" and self.finetune == "lora" and self.tiny_hidden_size % 4:
            raise ConfigError("tiny_hidden_size must be a multiple of 4 (the tiny model has 4 heads)")

    def check_paths(self) -> None:
        """Checks of files on disk, run when training starts (a pipeline builds this config before its data
        exists) and still before any model is loaded."""
        if self.model != "tiny" and not Path(self.model).exists() and self.model.count("/") > 1:
            raise ConfigError(f"model: '{self.model}' is neither a local folder nor a hub id (owner/name)")
        for name in ("data", "dev_data"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name}: file not found: {path}")
