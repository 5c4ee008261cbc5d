"""Mixing sequential and original records: per-group counts or fractions, then a seeded shuffle.

A group is "kind/lang" (e.g. "sequential/zh"); a mix key may use "*" for either part, and the most specific key
that matches a record governs it. The paper's multilingual recipe is {"sequential/zh": 4750, ...} with all English
records kept. Sampling keeps the chosen records' file order before the final shuffle, so results do not depend on
the order in which groups were read.

Disjoint languages: records of parallel data carry a pair id shared by every language's version of one source
record. With `pairs`, the records of one kind drawn for different languages never share a pair id: a source
record drawn for zh is not drawn for de. Groups not named in `mix` are kept whole, so their pair ids are taken
first; then the mix keys draw in sorted order, each skipping pair ids already taken.
"""

from __future__ import annotations

import random
from collections import defaultdict


def _governing_key(kind: str, lang: str, mix: dict[str, float]) -> str | None:
    for key in (f"{kind}/{lang}", f"{kind}/*", f"*/{lang}", "*/*"):
        if key in mix:
            return key
    return None


def apply_mixture(
    records: list[dict],
    mix: dict[str, float],
    seed: int,
    shuffle: bool,
    pairs: list[str | None] | None = None,
) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """The kept records (shuffled if `shuffle` or any `mix`) and {key: {available, requested, kept, ...}} per
    mix key. `pairs[i]`: the pair id of records[i] (None: not parallel data); given, languages draw disjoint
    source records and each key also reports `skipped_drawn_for_another_language`."""
    members: dict[str, list[int]] = defaultdict(list)
    taken: dict[str, set[str]] = defaultdict(set)  # kind → pair ids some language already holds
    for index, record in enumerate(records):
        key = _governing_key(record["kind"], record.get("lang") or "", mix)
        if key is not None:
            members[key].append(index)
        elif pairs is not None and pairs[index] is not None:
            taken[record["kind"]].add(pairs[index])
    dropped: set[int] = set()
    report: dict[str, dict[str, int]] = {}
    for key in sorted(mix):
        indices = members.get(key, [])
        amount = mix[key]
        wanted = int(amount) if amount >= 1 else round(amount * len(indices))
        order = list(indices)
        random.Random(f"{seed}:{key}").shuffle(order)
        chosen: set[int] = set()
        skipped = 0
        for index in order:
            if len(chosen) == wanted:
                break
            pair = pairs[index] if pairs is not None else None
            kind = records[index]["kind"]
            if pair is not None:
                if pair in taken[kind]:
                    skipped += 1
                    continue
                taken[kind].add(pair)
            chosen.add(index)
        dropped.update(i for i in indices if i not in chosen)
        report[key] = {"available": len(indices), "requested": wanted, "kept": len(chosen)}
        if pairs is not None:
            report[key]["skipped_drawn_for_another_language"] = skipped
    kept = [record for index, record in enumerate(records) if index not in dropped]
    if shuffle or mix:
        random.Random(seed).shuffle(kept)
    return kept, report
