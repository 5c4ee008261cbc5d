"""Manifests: what a stage read, with which config and seed, what it wrote, and how long it took.

A manifest is named after its output (`data.jsonl` → `data.jsonl.manifest.json`; an output folder holds
`manifest.json`), so two outputs in one folder never share one; `seqtune.layout.manifest_path` decides.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seqtune import __version__
from seqtune.layout import manifest_path
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


class HashCache:
    """sha256 of files, remembered by (size, mtime) in a JSON file, so that an unchanged big input (a model
    folder) is read once rather than at every `seqtune run`; a changed size or mtime means read it again."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self._known: dict[str, list] = {}
        if self.path is not None and self.path.is_file():
            try:
                self._known = json.loads(self.path.read_text(encoding="utf-8"))
            except (ValueError, OSError):
                self._known = {}  # a damaged cache only costs re-reading the files

    def file(self, path: Path) -> str:
        status = path.stat()
        key = str(path.resolve())
        stamp = [status.st_size, status.st_mtime_ns]
        known = self._known.get(key)
        if known is not None and known[:2] == stamp:
            return known[2]
        digest = file_sha256(path)
        self._known[key] = [*stamp, digest]
        return digest

    def content(self, path: str | Path) -> str:
        """One hash of a file, or of a folder's files and their relative names."""
        path = Path(path)
        if not path.is_dir():
            return self.file(path)
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path)}\0{self.file(file)}\0".encode())
        return digest.hexdigest()

    def save(self) -> None:
        if self.path is not None:
            write_json(self.path, self._known)


def write_manifest(
    output: str | Path,
    *,
    stage: str,
    config: dict[str, Any],
    started: float,
    inputs: Iterable[str | Path] = (),
    counts: dict[str, Any] | None = None,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Write the manifest of `output` (an output file, or a folder the stage owns) where
    `layout.manifest_path` puts it; `name` instead writes `output/name`. `started` is a time.time() taken when
    the stage began."""
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
    path = Path(output) / name if name else manifest_path(output)
    write_json(path, manifest)
    return path
