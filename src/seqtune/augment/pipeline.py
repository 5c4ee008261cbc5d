"""`seqtune augment`: read instruction data, add sequential records, write JSONL + manifest.json.

Records stream through in chunks of `chunk_size`: a chunk's provider work is done in one concurrent batch (steps'
`prepare`), then every record of it is written. Only mixing/shuffling needs all records in memory at once.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from seqtune.augment.compose import compose_instruction, compose_output
from seqtune.augment.config import AugmentConfig
from seqtune.augment.mixture import apply_mixture
from seqtune.config import to_dict
from seqtune.data.instructions import InstructionRecord, iter_instruction_records
from seqtune.data.parallel import guess_lang, iter_parallel_by_position, iter_parallel_shared
from seqtune.errors import ConfigError, RecordError
from seqtune.manifest import write_manifest
from seqtune.records import ErrorPolicy, atomic_write, dumps_record
from seqtune.steps.base import (
    STEPS,
    Step,
    StepContext,
    StepUnavailable,
    Verbalization,
    step_label,
    verbalizations,
)

VERBALIZATION_POOLS = ("seen", "unseen", "all")


class Verbalizer:
    """Chooses the phrasing of each step for each record and remembers the choice's id."""

    def __init__(self, config: AugmentConfig, step_names: Iterable[str]):
        self.mode = config.verbalization
        self.bank = config.template_bank
        self.pools: dict[str, list[Verbalization]] = {}
        for name in set(step_names):
            every = verbalizations(name, bank_path=self.bank)
            if self.mode in ("seen", "unseen"):
                pool = [v for v in every if v.split == self.mode]
            elif self.mode == "all":
                pool = every
            else:  # "paper" or an explicit id: that one for its step, the paper's phrasing for the others
                wanted = self.mode if self.mode.startswith(f"{name}/") else f"{name}/paper"
                pool = [v for v in every if v.id == wanted]
            if not pool:
                raise ConfigError(f"augment: verbalization '{self.mode}' has no phrasing for step '{name}'")
            self.pools[name] = pool
        if self.mode not in ("paper", *VERBALIZATION_POOLS) and not any(
            self.mode.startswith(f"{n}/") for n in self.pools
        ):
            raise ConfigError(f"augment: verbalization '{self.mode}' names no step of the chain")
        self.seed = config.seed

    def choose(self, record_id: str, step_names: list[str]) -> list[Verbalization]:
        if self.mode not in VERBALIZATION_POOLS:
            return [self.pools[name][0] for name in step_names]
        rng = random.Random(
            f"{self.seed}:{record_id}"
        )  # per record: a record's phrasing does not depend on the others
        return [rng.choice(self.pools[name]) for name in step_names]


class Chain:
    """The steps applied to one source's records, and how its sequential records are built."""

    def __init__(
        self, names: list[str], steps: dict[str, Step], verbalizer: Verbalizer, config: AugmentConfig
    ):
        if not names:
            raise ConfigError("augment: a chain needs at least one step")
        self.names = names
        self.steps = [steps[name] for name in names]
        self.unique_steps = list({id(s): s for s in self.steps}.values())
        self.needs_input = any(step.needs_input for step in self.steps)
        self.verbalizer = verbalizer
        self.fmt = config.output_format
        self.labels = [step_label(name, config.template_bank) for name in names]
        self.suffix = "+".join(names)

    def eligible(self, record: InstructionRecord) -> bool:
        return record.has_input or not self.needs_input

    def sequential(self, record: InstructionRecord) -> dict[str, Any]:
        try:
            targets = [step.target(record) for step in self.steps]
        except StepUnavailable as error:
            raise RecordError(record.origin or record.id, "", error.reason, str(error)) from None
        chosen = self.verbalizer.choose(record.id, self.names)
        out = {
            "id": f"{record.id}:{self.suffix}",
            "source_id": record.id,
            "kind": "sequential",
            "instruction": compose_instruction([v.text for v in chosen], record.instruction),
            "input": record.input,
            "output": compose_output(targets, record.output, self.fmt, self.labels),
            "steps": [
                {"task": name, "target": target} for name, target in zip(self.names, targets, strict=True)
            ],
            "final": record.output,
            "template": "+".join(v.id for v in chosen),
            "lang": record.lang,
        }
        if record.image is not None:
            out["image"] = record.image
        return out


def original(record: InstructionRecord) -> dict[str, Any]:
    out = {
        "id": record.id,
        "source_id": record.id,
        "kind": "original",
        "instruction": record.instruction,
        "input": record.input,
        "output": record.output,
        "steps": [],
        "final": record.output,
        "template": "",
        "lang": record.lang,
    }
    if record.image is not None:
        out["image"] = record.image
    return out


def _sources(
    config: AugmentConfig, policy: ErrorPolicy
) -> Iterator[tuple[list[str], Iterator[InstructionRecord]]]:
    """(step names, records) for every input: instruction data with `steps`, parallel data with `parallel_steps`."""
    for spec in config.inputs:
        yield (
            config.steps,
            iter_instruction_records(
                spec, policy, field_map=config.field_map, lang=config.lang, hf_split=config.hf_split
            ),
        )
    for path in config.parallel:
        yield config.parallel_steps, iter_parallel_shared(path, policy)
    langs = config.parallel_langs or [guess_lang(path) for path in config.parallel_aligned]
    for path, lang in zip(config.parallel_aligned, langs, strict=True):
        yield (
            config.parallel_steps,
            iter_parallel_by_position(
                config.parallel_english, path, lang, policy, field_map=config.field_map
            ),
        )


def _augment(
    config: AugmentConfig, policy: ErrorPolicy, context: StepContext, counts: Counter
) -> Iterator[dict]:
    step_names = [
        *config.steps,
        *(config.parallel_steps if (config.parallel or config.parallel_aligned) else []),
    ]
    steps = {name: STEPS.get(name)(context) for name in dict.fromkeys(step_names)}
    verbalizer = Verbalizer(config, steps)
    for names, records in _sources(config, policy):
        chain = Chain(names, steps, verbalizer, config)
        while chunk := list(itertools.islice(records, config.chunk_size)):
            counts["read"] += len(chunk)
            eligible = [r for r in chunk if chain.eligible(r)]
            counts["left_unchanged_no_input"] += len(chunk) - len(eligible)
            for step in chain.unique_steps:
                step.prepare(eligible)
            wanted = {id(r) for r in eligible}
            for record in chunk:
                if config.include_original:
                    yield original(record)
                if id(record) in wanted:
                    try:
                        yield chain.sequential(record)
                    except RecordError as error:
                        policy.handle(error)


def _write(handle: IO[str], records: Iterable[dict], counts: Counter) -> None:
    for record in records:
        handle.write(dumps_record(record))
        counts[f"written_{record['kind']}"] += 1


def run_augment(config: AugmentConfig) -> dict[str, Any]:
    """Run the stage; returns the summary (also written to manifest.json as `counts`)."""
    from tqdm import tqdm

    started = time.time()
    policy = ErrorPolicy(config.on_error)
    counts: Counter = Counter()
    output = Path(config.output)
    mixture_report: dict[str, Any] = {}
    with tqdm(total=0, unit="req", desc="provider", disable=None, leave=False) as progress:
        context = StepContext(config, progress)
        try:
            records = _augment(config, policy, context, counts)
            with atomic_write(output) as handle:
                if config.mix or config.shuffle:
                    kept, mixture_report = apply_mixture(
                        list(records), config.mix, config.seed, config.shuffle
                    )
                    _write(handle, kept, counts)
                else:
                    _write(handle, records, counts)
        finally:
            context.close()
    summary = _summary(counts, policy, context, mixture_report, output)
    inputs = [
        *config.inputs,
        *config.parallel,
        *config.parallel_aligned,
        *filter(None, [config.parallel_english, config.captions]),
    ]
    write_manifest(
        output.parent,
        stage="augment",
        config=to_dict(config),
        started=started,
        inputs=inputs,
        counts=summary,
        seed=config.seed,
    )
    print(format_summary(summary, output, time.time() - started))
    return summary


def _summary(
    counts: Counter, policy: ErrorPolicy, context: StepContext, mixture: dict, output: Path
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "read": counts["read"],
        "written": counts["written_original"] + counts["written_sequential"],
        "written_original": counts["written_original"],
        "written_sequential": counts["written_sequential"],
        "left_unchanged_no_input": counts["left_unchanged_no_input"],
        "skipped": dict(sorted(policy.skipped.items())),
    }
    if policy.first_errors:
        summary["first_errors"] = policy.first_errors
    provider = getattr(context, "_provider", None)
    if provider is not None and hasattr(provider, "stats"):
        summary["provider"] = dict(provider.stats)
    if mixture:
        summary["mixture"] = mixture
    return summary


def format_summary(summary: dict[str, Any], output: Path, seconds: float) -> str:
    lines = [
        f"seqtune augment → {output}  ({seconds:.1f} s)",
        f"  read {summary['read']:,} records; wrote {summary['written']:,} "
        f"({summary['written_sequential']:,} sequential, {summary['written_original']:,} original)",
        f"  left without a sequential version (no input): {summary['left_unchanged_no_input']:,}",
    ]
    skipped = summary["skipped"]
    lines.append(
        "  skipped: " + (", ".join(f"{reason} {n:,}" for reason, n in skipped.items()) if skipped else "none")
    )
    for error in summary.get("first_errors", [])[:3]:
        lines.append(f"    e.g. {error}")
    if "provider" in summary:
        stats = summary["provider"]
        lines.append("  provider: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    for key, report in summary.get("mixture", {}).items():
        lines.append(f"  mix {key}: kept {report['kept']:,} of {report['available']:,}")
    lines.append(f"  manifest: {output.parent / 'manifest.json'}")
    return "\n".join(lines)
