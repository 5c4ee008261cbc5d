"""TRL's SFTTrainer (causal LMs) and transformers' Trainer (InstructBLIP: trainable weights only) as seqtune trains
with them: a length-grouped order that is a function of (data_seed, epoch), and checkpoints with the usual file
modes. Imported only when a trainer is built (torch).

transformers' `LengthGroupedSampler` is built without a generator, so each epoch's order is drawn from the global
torch RNG at the moment the epoch starts. A run resumed inside a later epoch reaches that moment with another RNG
state (the checkpoint's RNG state is restored only after the skipped batches), so it trains the rest of the epoch
on a different order. Seeding the sampler by epoch, as accelerate's SeedableRandomSampler does for the random
order, makes the order the same whenever the epoch is (re)started.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler
from trl import SFTTrainer

from seqtune.train.outputs import CHECKPOINT_PREFIX, set_usual_modes


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped order drawn from a generator seeded with `seed + epoch` (accelerate and SamplerEpoch call
    `set_epoch`)."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()


class SeqtuneTrainerMixin:
    """What every seqtune trainer adds to its transformers/TRL base class."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seeded_sampler: EpochSeededLengthGroupedSampler | None = None
        self.add_callback(SamplerEpoch(self))
        self.add_callback(UsualModes())

    def _get_train_sampler(self, train_dataset=None):
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:
            sampler = EpochSeededLengthGroupedSampler(
                sampler.batch_size, sampler.lengths, self.args.data_seed
            )
            self.seeded_sampler = sampler
        return sampler


class SeqtuneSFTTrainer(SeqtuneTrainerMixin, SFTTrainer):
    pass


class TrainableOnlyTrainer(SeqtuneTrainerMixin, Trainer):
    """Checkpoints hold only the parameters that train; the frozen ones are the base model's, unchanged, so
    resuming and restoring the best checkpoint load the trained ones into the model (transformers loads a
    checkpoint's weights with strict=False)."""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(
            output_dir, state_dict=trainable_state(self.accelerator.unwrap_model(self.model), state_dict)
        )

    def _issue_warnings_after_load(self, load_result) -> None:
        """Only a trained parameter missing from a checkpoint is worth a warning."""
        trained = trained_names(self.accelerator.unwrap_model(self.model))
        missing = [key for key in load_result.missing_keys if key in trained]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))


def trained_names(model) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def trainable_state(model, state_dict: dict | None = None) -> dict:
    """The trained tensors of `state_dict` (default: the model's) by name: what a trainable-only save holds."""
    trained = trained_names(model)
    state = model.state_dict() if state_dict is None else state_dict
    return {name: tensor for name, tensor in state.items() if name in trained}


class SamplerEpoch(TrainerCallback):
    """Tells the seeded sampler the epoch at its start. accelerate's `set_epoch` does not reach it through the
    loader that skips the trained batches of a resumed epoch when batches are sharded over processes
    (SkipBatchSampler → BatchSamplerShard), so a 2-GPU run resumed inside epoch 2 would replay epoch 0's order.
    `state.epoch` is the epoch number at an epoch's start, and epoch + fraction done in a resumed one."""

    def __init__(self, trainer: SeqtuneTrainerMixin):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        if self.trainer.seeded_sampler is not None:
            self.trainer.seeded_sampler.set_epoch(math.floor(state.epoch))


class UsualModes(TrainerCallback):
    """Each checkpoint gets the usual file modes (safetensors writes its weights 0600)."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            set_usual_modes(Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}")
