"""Choices that depend on the model and the machine: LoRA targets, batch arithmetic, precision, attention kernel."""

from __future__ import annotations

from seqtune.errors import ConfigError

# The q/k/v projections by `config.model_type` (the paper's LoRA targets). Fused q/k/v layers are one module.
QKV_MODULES: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj"],
    "mixtral": ["q_proj", "k_proj", "v_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj"],
    "olmo2": ["q_proj", "k_proj", "v_proj"],
    "opt": ["q_proj", "k_proj", "v_proj"],
    "gptj": ["q_proj", "k_proj", "v_proj"],
    "bloom": ["query_key_value"],
    "falcon": ["query_key_value"],
    "gpt_neox": ["query_key_value"],
    "gpt2": ["c_attn"],
    "phi3": ["qkv_proj"],
    "mpt": ["Wqkv"],
}


def lora_targets(model, requested: list[str]) -> list[str]:
    """`requested` or the architecture's q/k/v modules, checked against the model's module names."""
    model_type = getattr(model.config, "model_type", "?")
    targets = requested or QKV_MODULES.get(model_type) or ["q_proj", "k_proj", "v_proj"]
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in leaf_names]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
        )
        raise ConfigError(
            f"target_modules: {', '.join(missing)} not found in model type '{model_type}'; "
            f"its linear layers are: {', '.join(linear) or 'none'} (set target_modules=...)"
        )
    return targets


def accumulation_steps(global_batch: int, micro_batch: int, processes: int) -> int:
    """Gradient accumulation so that micro-batch × accumulation × processes == global batch, exactly."""
    per_step = micro_batch * processes
    if global_batch % per_step:
        raise ConfigError(
            f"global_batch_size ({global_batch}) is not divisible by micro_batch_size × processes "
            f"({micro_batch} × {processes}); change one of them"
        )
    return global_batch // per_step


def resolve_precision(requested: str) -> str:
    """`auto` → bf16 where the GPU has it, fp16 on older GPUs, fp32 on CPU; an impossible request is an error."""
    import torch

    has_cuda = torch.cuda.is_available()
    bf16_ok = has_cuda and torch.cuda.is_bf16_supported()
    if requested == "auto":
        return "bf16" if bf16_ok else "fp16" if has_cuda else "fp32"
    if requested == "bf16" and not bf16_ok:
        raise ConfigError("precision=bf16 needs a GPU with bf16 support (use precision=auto)")
    if requested == "fp16" and not has_cuda:
        raise ConfigError("precision=fp16 needs a GPU (use precision=auto)")
    return requested


def resolve_attention(requested: str, flash_ok: bool = True) -> str:
    """`auto` → flash_attention_2 on a GPU where the flash-attn package is installed (and the family's model
    supports it: `flash_ok`), else sdpa.

    Both are correct with padding-free batches: flash attention reads the per-example boundaries (cu_seq_lens),
    and transformers turns the restarting position_ids into a block-diagonal mask for sdpa/eager.
    """
    if requested != "auto":
        return requested
    import importlib.util

    import torch

    if flash_ok and torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def resolve_batching(requested: str, attention: str) -> str:
    """`auto` → padding_free where flash attention keeps the examples of a flattened row apart at no cost, else
    grouped: sdpa would compute attention over the whole row (quadratic in its length) and mask most of it."""
    if requested != "auto":
        return requested
    return "padding_free" if attention.startswith("flash_attention") else "grouped"


def length_grouping(enabled: bool) -> dict:
    """SFTConfig keyword for transformers' length-grouped sampler (its name changed across versions)."""
    if not enabled:
        return {}
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def tensorboard_available() -> bool:
    import importlib.util

    return (
        importlib.util.find_spec("tensorboard") is not None
        or importlib.util.find_spec("tensorboardX") is not None
    )
