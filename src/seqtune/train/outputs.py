"""What a training run leaves on disk: saved folders with the usual file modes, and nothing after a failure.

Light (no torch): the cleanup runs after failures that may come before torch is imported.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from seqtune.layout import LOCK
from seqtune.records import usual_mode

CHECKPOINT_PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR, spelled here to stay torch-free


def set_usual_modes(folder: Path) -> None:
    """Give `folder` and everything in it the mode of every other output: safetensors writes weight files 0600
    and mkdtemp makes private folders, which would make a model unreadable to the group that reads the rest."""
    os.chmod(folder, usual_mode(directory=True))
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), usual_mode(directory=True))
        for name in files:
            os.chmod(os.path.join(root, name), usual_mode(directory=False))


def holds_checkpoint(checkpoints: Path) -> bool:
    return checkpoints.is_dir() and any(p.name.startswith(CHECKPOINT_PREFIX) for p in checkpoints.iterdir())


def remove_leftovers(out: Path, created: Iterable[Path], checkpoints: Path) -> None:
    """After a failed run, remove the folders it created (`created`: folders inside `out`, and `out` itself when the
    run created it and nothing but its lock is left there), unless a checkpoint was saved: `resume=true` continues from
    it. Folders that existed before the run are never touched."""
    if holds_checkpoint(checkpoints):
        return
    for folder in created:
        if folder != out:
            shutil.rmtree(folder, ignore_errors=True)
    if out in created and out.is_dir() and all(p.name == LOCK for p in out.iterdir()):
        shutil.rmtree(out)  # with the lock this run holds
