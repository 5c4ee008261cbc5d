"""manifest.json: what a stage read, with which config and seed, what it wrote, and how long it took."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seqtune import __version__
from seqtune.records import write_json


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hashes(paths: Iterable[str | Path]) -> dict[str, str]:
    """sha256 of every input file (folders, e.g. a local HF dataset, are hashed file by file)."""
    hashes: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                hashes[str(file)] = file_sha256(file)
        elif path.is_file():
            hashes[str(path)] = file_sha256(path)
    return hashes


def write_manifest(
    folder: str | Path,
    *,
    stage: str,
    config: dict[str, Any],
    started: float,
    inputs: Iterable[str | Path] = (),
    counts: dict[str, Any] | None = None,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
    name: str = "manifest.json",
) -> Path:
    """Write `folder/name`. `started` is a time.time() taken when the stage began."""
    manifest = {
        "stage": stage,
        "seqtune_version": __version__,
        "python": platform.python_version(),
        "seed": seed,
        "config": config,
        "inputs": input_hashes(inputs),
        "counts": counts or {},
        "wall_time_s": round(time.time() - started, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if extra:
        manifest.update(extra)
    path = Path(folder) / name
    write_json(path, manifest)
    return path
