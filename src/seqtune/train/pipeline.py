"""run_train: records → tokenized examples → TRL SFTTrainer (LoRA or full) → OUTPUT/model + logs + manifest.

Training loop, checkpointing, resume, best-checkpoint selection and distributed execution are TRL/transformers/
accelerate's; this module only wires the config into them and writes the output folder. Run it unchanged under
`accelerate launch` or `torchrun`: every process trains, only the main process writes the outputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqtune.config import to_dict
from seqtune.errors import ConfigError
from seqtune.manifest import write_manifest
from seqtune.prompts import PromptTemplate, get_template
from seqtune.records import ErrorPolicy, atomic_write, write_json
from seqtune.train.config import TrainConfig
from seqtune.train.data import TokenizedSplit, read_pairs, split_dev, to_dataset, tokenize_pairs
from seqtune.train.model_card import write_model_card
from seqtune.train.presets import (
    accumulation_steps,
    length_grouping,
    lora_targets,
    resolve_attention,
    resolve_batching,
    resolve_precision,
    tensorboard_available,
)

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MODEL = "model"
TINY_BASE = "base_model"


@dataclass
class TrainingRun:
    """Everything `run_train` set up before training: the trainer and what the outputs are written from."""

    config: TrainConfig
    trainer: Any
    tokenizer: Any
    template: PromptTemplate
    base_model: str
    train: TokenizedSplit
    dev: TokenizedSplit
    records_read: int
    policy: ErrorPolicy
    precision: str
    accumulation: int
    processes: int
    resume_from: str | None


def run_train(config: TrainConfig) -> Path:
    """Train as `config` says; returns the output folder (its model/ holds the adapter or the full model)."""
    started = time.time()
    run = prepare(config)
    run.trainer.train(resume_from_checkpoint=run.resume_from)
    out = Path(config.output_dir)
    if run.trainer.is_world_process_zero():
        summary = _summary(run)
        _write_outputs(run, out, summary)
        write_manifest(
            out,
            stage="train",
            config=to_dict(config),
            started=started,
            seed=config.seed,
            inputs=[p for p in (config.data, config.dev_data) if p],
            counts={
                "records_read": run.records_read,
                "train_examples": len(run.train),
                "dev_examples": len(run.dev),
                "skipped": dict(run.policy.skipped),
                "dropped": dict(run.train.dropped + run.dev.dropped),
            },
            extra={"training": summary},
        )
    run.trainer.accelerator.wait_for_everyone()
    return out


def prepare(config: TrainConfig) -> TrainingRun:
    """Check, read and tokenize the data, load the model and build the SFTTrainer (nothing is trained yet)."""
    config.check_paths()
    out = Path(config.output_dir)
    resume_from = _resume_point(config, out / CHECKPOINTS)
    if config.use_liger_kernel:
        _require_package("liger_kernel", "use_liger_kernel")

    import torch
    from accelerate import PartialState

    # cpu=True is what makes accelerate treat a torchrun/accelerate launch without GPUs as multi-process (gloo)
    state = PartialState(cpu=not torch.cuda.is_available())
    config.attn_implementation = resolve_attention(config.attn_implementation)
    config.batching = resolve_batching(config.batching, config.attn_implementation)
    precision = resolve_precision(config.precision)
    accumulation = accumulation_steps(config.global_batch_size, config.micro_batch_size, state.num_processes)
    template = get_template(config.template)
    policy = ErrorPolicy(config.on_error)

    base_model = _base_model(config, out, state)
    tokenizer = _load_tokenizer(base_model, config)
    pairs = read_pairs(config.data, template, tokenizer, policy)
    records_read = len(pairs)
    if config.dev_data:
        train_pairs, dev_pairs = pairs, read_pairs(config.dev_data, template, tokenizer, policy)
        records_read += len(dev_pairs)
    else:
        train_pairs, dev_pairs = split_dev(pairs, config.dev_size, config.seed)
    tokenize = dict(
        cutoff_len=config.cutoff_len,
        train_on_inputs=config.train_on_inputs,
        add_special_tokens=template.kind != "chat",
        batch_size=config.tokenize_batch_size,
    )
    train = tokenize_pairs(train_pairs, tokenizer, **tokenize)
    dev = tokenize_pairs(dev_pairs, tokenizer, **tokenize)
    if not len(train):
        raise ConfigError(f"{config.data}: no training example left (every prompt reaches cutoff_len?)")

    model = _load_model(base_model, config, precision)
    peft_config = _lora_config(model, config) if config.finetune == "lora" else None
    trainer = _build_trainer(config, model, tokenizer, train, dev, peft_config, precision, accumulation, out)
    return TrainingRun(
        config,
        trainer,
        tokenizer,
        template,
        base_model,
        train,
        dev,
        records_read,
        policy,
        precision,
        accumulation,
        state.num_processes,
        resume_from,
    )


def _resume_point(config: TrainConfig, checkpoints: Path) -> str | None:
    """The checkpoint to continue from; refuses to silently train over an earlier run's checkpoints."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last and not config.resume:
        raise ConfigError(
            f"{checkpoints} already holds checkpoints: pass resume=true or use a new output_dir"
        )
    if config.resume and not last:
        log.info("resume=true but no checkpoint in %s: starting from the beginning", checkpoints)
    return last if config.resume else None


def _require_package(module: str, option: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{option}=true needs the '{module}' package (pip install liger-kernel)")


def _base_model(config: TrainConfig, out: Path, state) -> str:
    """The model path or hub id; for `tiny`, a tiny Llama built (once, by the main process) from the data."""
    if config.model != "tiny":
        return config.model
    from seqtune.tiny_model import built_with

    folder = out / TINY_BASE
    with state.main_process_first():
        # a base built with other tiny_* settings (an earlier run in the same folder) is rebuilt
        if state.is_main_process and not built_with(folder, _tiny_spec(config)):
            build_tiny_base(config, folder)
    return str(folder.resolve())


def _tiny_spec(config: TrainConfig):
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

    return build_tiny_model(folder, _texts_for_tokenizer(config), _tiny_spec(config))


def _texts_for_tokenizer(config: TrainConfig) -> list[str]:
    """Every string of the training (and dev) records plus the prompt template, so the BPE covers them."""
    from seqtune.records import iter_json_records

    template = get_template(config.template)
    texts = [template.prompt_input, template.prompt_no_input]
    for path in (p for p in (config.data, config.dev_data) if p):
        for _, record in iter_json_records(path, ErrorPolicy("skip")):
            texts += [
                v for k, v in record.items() if k in ("instruction", "input", "output") and isinstance(v, str)
            ]
    return texts


def _load_tokenizer(base_model: str, config: TrainConfig):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model, trust_remote_code=config.trust_remote_code)
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            f"{base_model}: the tokenizer has no EOS token; trained models could not learn to stop"
        )
    if tokenizer.pad_token is None:
        # Padding positions are never attended to nor scored, so reusing EOS as the pad id is safe.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_model(base_model: str, config: TrainConfig, precision: str):
    import torch
    from transformers import AutoModelForCausalLM

    # LoRA keeps the frozen base in half precision (PEFT keeps adapters in fp32); full fine-tuning keeps fp32
    # master weights and lets mixed precision autocast the matmuls.
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    dtype = half if (half is not None and config.finetune == "lora") else torch.float32
    return AutoModelForCausalLM.from_pretrained(
        base_model,
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


def sft_config(config: TrainConfig, precision: str, accumulation: int, checkpoints: Path, has_dev: bool):
    """Every SFTConfig field that matters, set explicitly (TRL's own defaults differ from the paper's)."""
    import torch
    from trl import SFTConfig

    evaluate = has_dev
    report_to = config.report_to
    if report_to == "auto":
        report_to = "tensorboard" if tensorboard_available() else "none"
    return SFTConfig(
        output_dir=str(checkpoints),
        per_device_train_batch_size=config.micro_batch_size,
        per_device_eval_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        # padding_free: examples are already cut to cutoff_len in data.py, and TRL refuses a max_length it would
        # not enforce; packed: max_length is the length of a packed row; padded: a no-op cut.
        max_length=None if config.batching == "padding_free" else config.cutoff_len,
        padding_free=config.batching == "padding_free",
        packing=config.batching == "packed",
        packing_strategy="bfd",
        **length_grouping(config.batching == "grouped"),
        shuffle_dataset=False,  # the trainer's seeded sampler shuffles every epoch
        completion_only_loss=None,  # labels come pre-masked from data.build_example
        eval_strategy="steps" if evaluate else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=evaluate and config.keep_best,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to=report_to,
        seed=config.seed,
        data_seed=config.seed,
        use_liger_kernel=config.use_liger_kernel,
        torch_compile=config.torch_compile,
        ddp_find_unused_parameters=False,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        save_only_model=False,  # optimizer, scheduler and RNG states are what makes resume exact
    )


def _build_trainer(config, model, tokenizer, train, dev, peft_config, precision, accumulation, out: Path):
    from trl import SFTTrainer

    args = sft_config(config, precision, accumulation, out / CHECKPOINTS, has_dev=len(dev) > 0)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(train),
        eval_dataset=to_dataset(dev) if len(dev) else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def _summary(run: TrainingRun) -> dict[str, Any]:
    config, state = run.config, run.trainer.state
    train_losses = [e["loss"] for e in state.log_history if "loss" in e]
    return {
        "data": config.data,
        "finetune": config.finetune,
        "train_examples": len(run.train),
        "dev_examples": len(run.dev),
        "train_tokens": sum(map(len, run.train.input_ids)),
        "global_step": state.global_step,
        "global_batch_size": config.micro_batch_size * run.accumulation * run.processes,
        "micro_batch_size": config.micro_batch_size,
        "gradient_accumulation_steps": run.accumulation,
        "processes": run.processes,
        "learning_rate": config.learning_rate,
        "epochs": config.epochs,
        "cutoff_len": config.cutoff_len,
        "precision": run.precision,
        "batching": config.batching,
        "train_on_inputs": config.train_on_inputs,
        "last_train_loss": train_losses[-1] if train_losses else None,
        "best_dev_loss": state.best_metric,
        "best_checkpoint": Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
    }


def _write_outputs(run: TrainingRun, out: Path, summary: dict) -> None:
    model_dir = out / MODEL
    run.trainer.save_model(str(model_dir))
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in config.yaml
    run.tokenizer.save_pretrained(str(model_dir))
    run.template.save(model_dir)
    write_model_card(model_dir, base_model=run.base_model, template=run.template, summary=summary)
    with atomic_write(out / "config.yaml") as handle:
        yaml.safe_dump(to_dict(run.config), handle, sort_keys=False, allow_unicode=True)
    write_json(out / "log_history.json", run.trainer.state.log_history)
