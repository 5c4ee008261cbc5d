"""What a training run leaves on disk: saved folders with the usual file modes, and nothing after a failure.

Light (no torch): the cleanup runs after failures that may come before torch is imported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from seqtune.layout import LOCK, remove_staging_folders
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


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A staging folder beside `target` to write it in: renamed to `target` (replacing an earlier one) when the
    block ends, removed when it fails, so an interrupted save never leaves half a model behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_staging_folders(target)  # of a save that was killed
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        set_usual_modes(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
