"""What each stage writes where: file names, the run folder, manifests, ownership markers and the lock.

Stages, `seqtune run` and report ask this module for a path instead of spelling it, so that a name changes in
one place. The run folder of `seqtune run CONFIG.yaml` (its `output_dir`):

    .seqtune-owned             the run created this folder; a run never writes into a non-empty folder without it
    .seqtune.lock              held (fcntl) while a run writes here; a second run on the folder is refused
    .seqtune-hashes.json       content hashes of the inputs, cached by size and mtime
    augment/data.jsonl         sequential + original records (the SIT training data)
    augment/original.jsonl     the original records only (the IT baseline's training data)
    base_model/                for `model: tiny`: one tiny model shared by every arm, so arms differ only in data
    train/<arm>/               one training run per arm: model/, checkpoints/, manifest.json ...
    eval/<arm>/<task>/         predictions.jsonl, scores.jsonl, summary.json and their manifests
    report/                    tables, figures, report.md

Manifests are named after their output: `data.jsonl` → `data.jsonl.manifest.json` beside it (the whole name is
kept, so `data.jsonl` and `data.jsonl.gz` in one folder still get two); a folder that a stage owns whole (train's
output_dir, report's folder) holds `manifest.json`.

Ownership: a folder a run creates gets an OWNED marker; a run deletes only inside folders holding one, so a
mistyped path can never make it delete somebody's data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seqtune.errors import ConfigError, SeqtuneError

PREDICTIONS = "predictions.jsonl"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"
REPORT = "report.md"
JUDGE_FOLDER = "judge"
"""`seqtune judge`'s default output folder, beside the first predictions file (a run's: `judge/` in its root)."""
JUDGMENTS = "judgments.jsonl"
JUDGE_SUMMARY = "judge_summary.json"
HEADLINE_TABLES = ("table5.md", "table4.md")
"""The report's main table, printed at the end of a run (the first one the report has): accuracy and following of
IT and SIT arms under the non-sequential and sequential prompts (Table 5 of the paper), the effect SIT is about, or
for a vision-language run Table 4 (VQAv2 / GQA accuracy of prompt, IT, SIT and SIT (neg.))."""
MANIFEST = "manifest.json"
"""The manifest of an output folder that one stage owns whole."""
TRAINED_MODEL = "model"
CHECKPOINTS = "checkpoints"

STAGE_DONE = ".seqtune-stage.json"
STAGE_STARTED = ".seqtune-stage-started.json"
OWNED = ".seqtune-owned"
LOCK = ".seqtune.lock"
HASH_CACHE = ".seqtune-hashes.json"

_MANIFEST_SUFFIX = ".manifest.json"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")


def manifest_path(output: str | Path) -> Path:
    """Where the manifest of `output` goes: inside it when it is a folder, else beside it, named after it."""
    output = Path(output)
    if output.is_dir():
        return output / MANIFEST
    return output.with_name(output.name + _MANIFEST_SUFFIX)


def plain_name(name: object, what: str) -> str:
    """`name` when it can be one path component (letters, digits, `_ - + .`, not starting with a dot), else a
    ConfigError: a name such as `../x` or `/tmp/v` would put a stage's output outside its folder."""
    if not isinstance(name, str) or not _PLAIN_NAME.match(name):
        raise ConfigError(
            f"{what}: {name!r} is not a plain name (use letters, digits, '_', '-', '+' or '.', not starting "
            "with a dot; no '/', no '..')"
        )
    return name


@dataclass(frozen=True)
class RunLayout:
    """The paths of one `seqtune run` folder."""

    root: Path

    @property
    def augment(self) -> Path:
        return self.root / "augment"

    @property
    def augmented(self) -> Path:
        return self.augment / "data.jsonl"

    @property
    def original(self) -> Path:
        return self.augment / "original.jsonl"

    @property
    def seqinstruct(self) -> Path:
        return self.root / "seqinstruct"

    @property
    def seqinstruct_data(self) -> Path:
        """The LLM-rewritten sequential instructions with the model's responses (arm data `seqinstruct`)."""
        return self.seqinstruct / "data.jsonl"

    @property
    def seqinstruct_control(self) -> Path:
        """The original instructions answered by the same model (arm data `seqinstruct-it`, the IT control)."""
        return self.seqinstruct / "it.jsonl"

    @property
    def base_model(self) -> Path:
        return self.root / "base_model"

    def train(self, arm: str) -> Path:
        return self.root / "train" / plain_name(arm, "arm")

    def model(self, arm: str) -> Path:
        return self.train(arm) / TRAINED_MODEL

    def checkpoints(self, arm: str) -> Path:
        return self.train(arm) / CHECKPOINTS

    @property
    def evaluations(self) -> Path:
        return self.root / "eval"

    def evaluation(self, arm: str, task: str) -> Path:
        return self.evaluations / plain_name(arm, "arm") / plain_name(task, "task")

    @property
    def judge(self) -> Path:
        return self.root / JUDGE_FOLDER

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def hash_cache(self) -> Path:
        return self.root / HASH_CACHE


def answer_cache(output: str | Path, cache_path: str | None) -> Path:
    """A model-calling stage's answer cache: `cache_path`, else OUTPUT with the suffix .cache.sqlite beside it."""
    if cache_path:
        return Path(cache_path)
    output = Path(output)
    stem = output.name.removesuffix(".gz").removesuffix(".jsonl")
    return output.with_name(f"{stem}.cache.sqlite")


# ---- ownership: delete only what a run created ----


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def claim(folder: Path, *, created_by: str) -> None:
    """Create `folder` (and mark it owned) or adopt it when it is empty or was left by an earlier seqtune run
    (a stage marker in it or one level below). A non-empty folder of unknown origin is refused: the run would
    mix its files with somebody else's, and could later clean up what is not its own."""
    if owned(folder):
        return
    if folder.exists() and not folder.is_dir():
        raise SeqtuneError(f"{folder}: is a file; the run needs a folder there")
    if folder.is_dir() and not _empty(folder) and not _left_by_seqtune(folder):
        raise SeqtuneError(
            f"{folder}: the folder already holds files that seqtune did not create; choose a new or empty "
            "folder (nothing was changed)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    mark_owned(folder, created_by=created_by)


def mark_owned(folder: Path, *, created_by: str) -> None:
    """Mark a folder that this process has just made (e.g. one a builder renamed into place)."""
    (folder / OWNED).write_text(json.dumps({"created_by": created_by}) + "\n", encoding="utf-8")


def _left_by_seqtune(folder: Path) -> bool:
    """A run folder made before ownership markers existed: a stage marker one level below."""
    return any(owned(child) for child in folder.iterdir() if child.is_dir())


def owned(folder: Path) -> bool:
    """Made by seqtune: an ownership marker, or a stage marker (folders of runs older than the markers)."""
    return any((folder / marker).is_file() for marker in (OWNED, STAGE_DONE, STAGE_STARTED))


def remove_owned(path: Path, *, owner: Path) -> None:
    """Delete `path`, which must lie inside `owner`, a folder this run owns; anything else is refused."""
    if not owned(owner) or not path.resolve().is_relative_to(owner.resolve()):
        raise SeqtuneError(f"{path}: not created by seqtune; refusing to delete it (move it away yourself)")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_staging_folders(target: Path) -> list[Path]:
    """Delete `.<name>.XXXXXXXX` folders beside `target`: where tempfile.mkdtemp(prefix=".<name>.") builds a
    folder before renaming it to `target`, left behind when that process was killed."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.[a-z0-9_]{{8}}$")
    removed = []
    if target.parent.is_dir():
        for candidate in target.parent.iterdir():
            if pattern.match(candidate.name) and candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
                removed.append(candidate)
    return removed


# ---- one writer per output folder ----


@contextlib.contextmanager
def locked(folder: Path, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (a `.seqtune.lock` file in it) or refuse: two processes writing one
    output folder would interleave their files. The lock goes with the process, even when it is killed; the file
    goes with the block (a killed process leaves it, unlocked, and the next run takes it over)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the block ends
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "another process"
            handle.close()
            raise SeqtuneError(
                f"{folder}: {who} is writing to this folder; wait for it to finish or choose another folder"
            ) from None
        # the holder before us removes the file as it leaves: a lock taken on the removed file guards nothing,
        # so it must be the file that is there now
        if _same_file(handle, path):
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"seqtune process {os.getpid()} ({holder})\n")
        handle.flush()
        yield
    finally:
        # still locked here: whoever opened the file meanwhile sees that it is gone and opens anew
        path.unlink(missing_ok=True)
        handle.close()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


# ---- an output must never be one of the inputs ----


def _same_path(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)  # also catches hard and symbolic links
    return a.resolve() == b.resolve()


def refuse_output_that_is_input(
    output: str | Path, inputs: Iterable[str | Path], *, folder: bool = False
) -> None:
    """Refuse an output that is one of the inputs (writing it would destroy the input); with `folder`, the
    output is a folder the stage writes into, and an input anywhere below it is refused as well."""
    target = Path(output)
    for source in map(Path, inputs):
        if _same_path(target, source):
            raise SeqtuneError(
                f"{target}: this output is also an input; writing it would destroy the input, choose another output"
            )
        if folder and source.resolve().is_relative_to(target.resolve()):
            raise SeqtuneError(
                f"{source}: an input inside the output folder {target}, which is written to; move the input or "
                "choose another output"
            )
