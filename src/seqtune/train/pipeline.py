"""run_train: records → tokenized examples → trainer → OUTPUT/model + logs + manifest.

What depends on the kind of model (loading, trainable parameters, examples, collation, what is saved) is in one
family module: `causal_lm` (TRL SFTTrainer, LoRA or full) or `instructblip` (Q-Former only). Training loop,
checkpointing, resume, best-checkpoint selection and distributed execution are TRL/transformers/accelerate's; this
module only wires the config into them and writes the output folder. Run it unchanged under `accelerate launch` or
`torchrun`: every process trains, only the main process writes the outputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqtune.config import to_dict
from seqtune.errors import ConfigError
from seqtune.layout import locked
from seqtune.manifest import write_manifest
from seqtune.prompts import PromptTemplate, get_template
from seqtune.records import ErrorPolicy, atomic_write, write_json
from seqtune.train import causal_lm, instructblip
from seqtune.train.causal_lm import build_tiny_base
from seqtune.train.config import TrainConfig
from seqtune.train.data import TokenizedSplit, split_dev
from seqtune.train.model_card import write_model_card
from seqtune.train.outputs import remove_leftovers, staged_folder
from seqtune.train.presets import (
    accumulation_steps,
    length_grouping,
    resolve_attention,
    resolve_batching,
    resolve_precision,
    tensorboard_available,
)

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MODEL = "model"
TINY_BASE = "base_model"
FAMILIES = {"causal_lm": causal_lm, "instructblip": instructblip}
__all__ = ["build_tiny_base", "prepare", "run_train"]


@dataclass
class TrainingRun:
    """Everything `run_train` set up before training: the trainer and what the outputs are written from."""

    config: TrainConfig
    trainer: Any
    family: Any
    processing: Any
    """The tokenizer (causal LM) or processor (InstructBLIP)."""
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
    out = Path(config.output_dir)
    created = [folder for folder in (out, out / CHECKPOINTS, out / TINY_BASE) if not folder.exists()]
    # torchrun and accelerate set RANK: the main process locks `out` against a second run and cleans up after a
    # failure; the other processes of this run write into it as well
    main_process = os.environ.get("RANK", "0") == "0"
    with locked(out, "seqtune train") if main_process else contextlib.nullcontext():
        try:
            run = prepare(config)
            run.trainer.train(resume_from_checkpoint=run.resume_from)
            if run.trainer.is_world_process_zero():
                _write_outputs(run, out, started)
        except BaseException:
            if main_process:
                remove_leftovers(out, created, out / CHECKPOINTS)
            raise
    run.trainer.accelerator.wait_for_everyone()
    return out


def prepare(config: TrainConfig) -> TrainingRun:
    """Check, read and tokenize the data, load the model and build the trainer (nothing is trained yet)."""
    config.check_paths()
    out = Path(config.output_dir)
    resume_from = _resume_point(config, out / CHECKPOINTS)
    if config.use_liger_kernel:
        _require_package("liger_kernel", "use_liger_kernel")

    import torch
    from accelerate import PartialState

    # cpu=True is what makes accelerate treat a torchrun/accelerate launch without GPUs as multi-process (gloo)
    state = PartialState(cpu=not torch.cuda.is_available())
    family = FAMILIES[config.family()]
    config.attn_implementation = resolve_attention(config.attn_implementation, family.FLASH_ATTENTION)
    config.batching = resolve_batching(config.batching, config.attn_implementation)
    precision = resolve_precision(config.precision)
    accumulation = accumulation_steps(config.global_batch_size, config.micro_batch_size, state.num_processes)
    template = get_template(config.template)
    policy = ErrorPolicy(config.on_error)

    base_model = family.base_model(config, out / TINY_BASE, state)
    processing = family.load_processing(base_model, config)
    pairs = family.read_examples(config.data, config, template, processing, policy)
    records_read = len(pairs)
    if config.dev_data:
        train_pairs = pairs
        dev_pairs = family.read_examples(config.dev_data, config, template, processing, policy)
        records_read += len(dev_pairs)
    else:
        train_pairs, dev_pairs = split_dev(pairs, config.dev_size, config.seed)
    train = family.tokenize(train_pairs, processing, config, template)
    dev = family.tokenize(dev_pairs, processing, config, template)
    if not len(train):
        raise ConfigError(f"{config.data}: no training example left (every prompt reaches cutoff_len?)")

    model = family.load_model(base_model, config, precision)
    args = sft_config(config, precision, accumulation, out / CHECKPOINTS, has_dev=len(dev) > 0)
    trainer = family.build_trainer(config, model, processing, train, dev, args)
    return TrainingRun(
        config,
        trainer,
        family,
        processing,
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


def _write_outputs(run: TrainingRun, out: Path, started: float) -> None:
    """model/ (built in a staging folder and renamed, so a failure never leaves half a model), config.yaml,
    log_history.json and manifest.json."""
    summary = _summary(run)
    with staged_folder(out / MODEL) as staging:  # replaces an earlier run's model in this output_dir
        run.family.save_model(run.trainer, run.processing, staging, run.base_model)
        run.template.save(staging)
        write_model_card(staging, base_model=run.base_model, template=run.template, summary=summary)
    with atomic_write(out / "config.yaml") as handle:
        yaml.safe_dump(to_dict(run.config), handle, sort_keys=False, allow_unicode=True)
    write_json(out / "log_history.json", run.trainer.state.log_history)
    config = run.config
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
