"""The causal-LM family: any AutoModelForCausalLM (or `model=tiny`), LoRA or full fine-tuning, TRL's SFTTrainer.

Every family module has the same functions, which `pipeline.prepare` calls in this order: `base_model` (the path or
hub id, building a tiny model when asked), `load_processing` (tokenizer or processor), `read_examples`,
`tokenize`, `load_model`, `build_trainer`; `save_model` writes the trained weights at the end.
"""

from __future__ import annotations

from pathlib import Path

from seqtune.errors import ConfigError
from seqtune.prompts import PromptTemplate, get_template
from seqtune.records import ErrorPolicy
from seqtune.train.config import TrainConfig
from seqtune.train.data import (
    CHARS_PER_TOKEN,
    PromptCompletion,
    TokenizedSplit,
    read_pairs,
    to_dataset,
    tokenize_pairs,
)
from seqtune.train.presets import lora_targets

TINY = "tiny"
# `attn_implementation: auto` may pick flash attention (and so padding-free batches)
FLASH_ATTENTION = True


def base_model(config: TrainConfig, folder: Path, state) -> str:
    """The model path or hub id; for `tiny`, a tiny Llama built (once, by the main process) in `folder`."""
    if config.model != TINY:
        return config.model
    from seqtune.tiny_model import built_with

    with state.main_process_first():
        # a base built with other tiny_* settings (an earlier run in the same folder) is rebuilt
        if state.is_main_process and not built_with(folder, tiny_spec(config)):
            build_tiny_base(config, folder)
    return str(folder.resolve())


def tiny_spec(config: TrainConfig):
    from seqtune.tiny_model import TinySpec

    return TinySpec(
        vocab_size=config.tiny_vocab_size,
        hidden_size=config.tiny_hidden_size,
        intermediate_size=config.tiny_hidden_size * 11 // 4,
        num_hidden_layers=config.tiny_layers,
        max_position_embeddings=max(1024, config.cutoff_len),
        seed=config.seed,
    )


def build_tiny_base(config: TrainConfig, folder: Path) -> Path:
    """The tiny Llama of `config` (tiny_* fields), its tokenizer trained on the texts of `config.data`."""
    from seqtune.tiny_model import build_tiny_model

    return build_tiny_model(folder, texts_for_tokenizer(config), tiny_spec(config))


def texts_for_tokenizer(config: TrainConfig) -> list[str]:
    """Every string of the training (and dev) records plus the prompt template, so the BPE covers them; each cut
    to the characters an example can hold (a 50 MB record would otherwise cost gigabytes to learn merges from)."""
    from seqtune.records import iter_json_records

    template = get_template(config.template)
    texts = [template.prompt_input, template.prompt_no_input]
    longest = config.cutoff_len * CHARS_PER_TOKEN
    for path in (p for p in (config.data, config.dev_data) if p):
        # the run's own policy: with on_error=fail a bad record stops the run here, before a model is built
        for _, record in iter_json_records(path, ErrorPolicy(config.on_error)):
            texts += [
                v[:longest]
                for k, v in record.items()
                if k in ("instruction", "input", "output") and isinstance(v, str)
            ]
    return texts


def load_processing(base: str, config: TrainConfig):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=config.trust_remote_code)
    return check_tokenizer(tokenizer, base)


def check_tokenizer(tokenizer, base: str):
    """The tokenizer, refused without EOS and given a pad token (EOS) where it has none."""
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"{base}: the tokenizer has no EOS token; trained models could not learn to stop")
    if tokenizer.pad_token is None:
        # Padding positions are never attended to nor scored, so reusing EOS as the pad id is safe.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def read_examples(
    path: str, config: TrainConfig, template: PromptTemplate, tokenizer, policy: ErrorPolicy
) -> list[PromptCompletion]:
    return read_pairs(path, template, tokenizer, policy)


def tokenize(
    pairs: list[PromptCompletion], tokenizer, config: TrainConfig, template: PromptTemplate
) -> TokenizedSplit:
    return tokenize_pairs(
        pairs,
        tokenizer,
        cutoff_len=config.cutoff_len,
        train_on_inputs=config.train_on_inputs,
        add_special_tokens=template.kind != "chat",
        batch_size=config.tokenize_batch_size,
    )


def load_model(base: str, config: TrainConfig, precision: str):
    import torch
    from transformers import AutoModelForCausalLM

    # LoRA keeps the frozen base in half precision (PEFT keeps adapters in fp32); full fine-tuning keeps fp32
    # master weights and lets mixed precision autocast the matmuls.
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    dtype = half if (half is not None and config.finetune == "lora") else torch.float32
    return AutoModelForCausalLM.from_pretrained(
        base,
        dtype=dtype,
        attn_implementation=config.attn_implementation,
        trust_remote_code=config.trust_remote_code,
        use_safetensors=True,
    )


def _lora_config(model, config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=lora_targets(model, config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def build_trainer(config: TrainConfig, model, tokenizer, train: TokenizedSplit, dev: TokenizedSplit, args):
    from seqtune.train.trainer import SeqtuneSFTTrainer

    return SeqtuneSFTTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(train),
        eval_dataset=to_dataset(dev) if len(dev) else None,
        processing_class=tokenizer,
        peft_config=_lora_config(model, config) if config.finetune == "lora" else None,
    )


def save_model(trainer, tokenizer, folder: Path, base: str) -> None:
    """The adapter (LoRA) or the whole model (full), with the tokenizer."""
    trainer.save_model(str(folder))
    (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in config.yaml
    tokenizer.save_pretrained(str(folder))
