"""Augment the full Stanford Alpaca file (52,002 records) with `repeat` through the CLI, start to finish.

Baseline in the same run: a plain `json.load` of the same gzipped file plus `json.dumps` of every record to a
JSONL file — the least any tool must do. Each command runs in its own process under `/usr/bin/time`-style
measurement (wall time, the child's own peak RSS from wait4). Usage: python benchmarks/augment_speed.py [ALPACA_JSON_GZ]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqtune.layout import manifest_path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "alpaca" / "alpaca_data.json.gz"
BASELINE = (
    "import gzip, json, sys\n"
    "records = json.load(gzip.open(sys.argv[1], 'rt', encoding='utf-8'))\n"
    "with open(sys.argv[2], 'w', encoding='utf-8') as out:\n"
    "    for r in records: out.write(json.dumps(r, ensure_ascii=False) + '\\n')\n"
)


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process (its own rusage, from wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"{command[0]} failed with exit code {process.returncode}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    seqtune = str(Path(sys.executable).with_name("seqtune"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sit.jsonl"
        base_wall, base_rss = measure(
            [sys.executable, "-c", BASELINE, str(source), str(Path(tmp) / "plain.jsonl")]
        )
        wall, rss = measure(
            [seqtune, "-q", "augment", str(source), "--steps", "repeat", "--output", str(out)]
        )
        counts = json.loads(manifest_path(out).read_text())["counts"]
    print(f"input: {source} ({counts['read']:,} records)")
    print(f"baseline json load + dump:      {base_wall:6.2f} s   peak RSS {base_rss:6.0f} MiB")
    print(f"seqtune augment --steps repeat: {wall:6.2f} s   peak RSS {rss:6.0f} MiB")
    print(
        f"written: {counts['written']:,} ({counts['written_sequential']:,} sequential, {counts['written_original']:,} original)"
    )
    if wall >= 10:
        sys.exit("augment took 10 s or more: over the budget")


if __name__ == "__main__":
    main()
