"""Mixing sequential and original records: per-group counts or fractions, then a seeded shuffle.

A group is "kind/lang" (e.g. "sequential/zh"); a mix key may use "*" for either part, and the most specific key
that matches a record governs it. The paper's multilingual recipe is {"sequential/zh": 4750, ...} with all English
records kept. Sampling keeps the chosen records' file order before the final shuffle, so results do not depend on
the order in which groups were read.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict


def _governing_key(kind: str, lang: str, mix: dict[str, float]) -> str | None:
    for key in (f"{kind}/{lang}", f"{kind}/*", f"*/{lang}", "*/*"):
        if key in mix:
            return key
    return None


def apply_mixture(
    records: list[dict], mix: dict[str, float], seed: int, shuffle: bool
) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """The kept records (shuffled if `shuffle` or any `mix`) and {key: {available, kept}} per mix key."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        key = _governing_key(record["kind"], record.get("lang") or "", mix)
        if key is not None:
            members[key].append(index)
    dropped: set[int] = set()
    report: dict[str, dict[str, int]] = {}
    for key in sorted(mix):
        indices = members.get(key, [])
        amount = mix[key]
        wanted = int(amount) if amount >= 1 else round(amount * len(indices))
        chosen = set(random.Random(f"{seed}:{key}").sample(indices, min(wanted, len(indices))))
        dropped.update(i for i in indices if i not in chosen)
        report[key] = {"available": len(indices), "requested": wanted, "kept": len(chosen)}
    kept = [record for index, record in enumerate(records) if index not in dropped]
    if shuffle or mix:
        random.Random(seed).shuffle(kept)
    return kept, report


def group_counts(records: list[dict]) -> dict[str, int]:
    """{"kind/lang": count}, for the summary."""
    return dict(sorted(Counter(f"{r['kind']}/{r.get('lang')}" for r in records).items()))
