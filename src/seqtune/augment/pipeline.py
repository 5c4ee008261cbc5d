"""`seqtune augment`: read instruction data, add sequential records, write JSONL + its manifest.

Records stream through in chunks of `chunk_size`: a chunk's model calls are done in one concurrent batch (steps'
`prepare`), then every record of it is written. Only mixing/shuffling needs all records in memory at once.
Every record travels with its pair id (parallel data: the same source record in every language; else None), which
mixing uses to draw disjoint source records per language.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from seqtune.augment.config import AugmentConfig
from seqtune.augment.mixture import apply_mixture
from seqtune.config import to_dict
from seqtune.data.instructions import InstructionRecord, iter_instruction_records
from seqtune.data.machine_translated import iter_machine_translated
from seqtune.data.parallel import guess_lang, iter_parallel_by_position, iter_parallel_shared
from seqtune.data.vqa import check_images, instruction_records, read_vqav2
from seqtune.errors import ConfigError, RecordError
from seqtune.layout import manifest_path
from seqtune.manifest import write_manifest
from seqtune.records import ErrorPolicy, atomic_write, dumps_record
from seqtune.sequential import compose_instruction, compose_output
from seqtune.steps.base import (
    STEPS,
    Step,
    StepContext,
    StepUnavailable,
    Verbalization,
    step_label,
    verbalizations,
)
from seqtune.steps.caption import CaptionStep

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
        self.names = names
        self.steps = [steps[name] for name in names]
        self.unique_steps = list({id(s): s for s in self.steps}.values())
        self.needs_input = any(step.needs_input for step in self.steps)
        self.verbalizer = verbalizer
        self.fmt = config.output_format
        # the paper keeps the English instruction whatever the input and output language
        self.english_instruction = config.parallel_instruction == "english"
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
        instruction = record.instruction
        if self.english_instruction and record.english_instruction is not None:
            instruction = record.english_instruction
        out = {
            "id": f"{record.id}:{self.suffix}",
            "source_id": record.id,
            "kind": "sequential",
            "instruction": compose_instruction([v.text for v in chosen], instruction),
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
    config: AugmentConfig, policy: ErrorPolicy, context: StepContext
) -> Iterator[tuple[list[str], Iterator[InstructionRecord]]]:
    """(step names, records) for every input: instruction data with `steps`, parallel data and machine-translated
    data with `parallel_steps`."""

    def read(spec: str, read_policy: ErrorPolicy) -> Iterator[InstructionRecord]:
        return iter_instruction_records(
            spec, read_policy, field_map=config.field_map, lang=config.lang, hf_split=config.hf_split
        )

    for spec in config.inputs:
        yield config.steps, read(spec, policy)
    for lang in config.translate_to:
        for spec in config.inputs:
            # the English pass above has counted (or refused) the bad input records: skip them quietly here
            english = read(spec, ErrorPolicy("skip"))
            yield (
                config.parallel_steps,
                iter_machine_translated(
                    english,
                    lang,
                    context.translator(lang),
                    policy,
                    max_new_tokens=config.max_new_tokens,
                    chunk_size=config.chunk_size,
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
) -> Iterator[tuple[dict, str | None]]:
    """(record, pair id) for every output record, in input order."""
    step_names = [
        *config.steps,
        *(
            config.parallel_steps
            if (config.parallel or config.parallel_aligned or config.translate_to)
            else []
        ),
    ]
    steps = {name: STEPS.get(name)(context) for name in dict.fromkeys(step_names)}
    verbalizer = Verbalizer(config, steps)
    for names, records in _sources(config, policy, context):
        # no steps (`steps: []`): the records are kept as originals only, as asked
        chain = Chain(names, steps, verbalizer, config) if names else None
        while chunk := list(itertools.islice(records, config.chunk_size)):
            counts["read"] += len(chunk)
            if chain is None:
                eligible = []
                counts["no_steps_asked"] += len(chunk)
            else:
                eligible = [r for r in chunk if chain.eligible(r)]
                counts["left_unchanged_no_input"] += len(chunk) - len(eligible)
                for step in chain.unique_steps:
                    step.prepare(eligible)
            wanted = {id(r) for r in eligible}
            for record in chunk:
                if config.include_original:
                    yield original(record), record.pair_id
                if chain is not None and id(record) in wanted:
                    try:
                        yield chain.sequential(record), record.pair_id
                    except RecordError as error:
                        policy.handle(error)
    if config.vqa:
        # without `captions`, VQA questions give IT records only (each counted as vqa_no_caption)
        caption_step = steps.get("caption") or (STEPS.get("caption")(context) if config.captions else None)
        yield from _vqa_records(config, policy, caption_step, counts)


def _vqa_records(
    config: AugmentConfig, policy: ErrorPolicy, captions: CaptionStep | None, counts: Counter
) -> Iterator[tuple[dict, None]]:
    """The IT (original) and SIT (describe-then-answer) records of the `vqa` sources, each question's IT record
    followed by its SIT one; the questions drawn by `vqa_sample` and with a readable image only."""
    questions = [record for source in config.vqa for record in read_vqav2(source)]
    counts["vqa_questions"] += len(questions)
    if config.vqa_sample and config.vqa_sample < len(questions):
        drawn = random.Random(f"{config.seed}:vqa").sample(range(len(questions)), config.vqa_sample)
        questions = [questions[i] for i in sorted(drawn)]
    counts["read"] += len(questions)
    counts["vqa_drawn"] += len(questions)
    questions, _ = check_images(questions, config.image_root, policy)
    it_records, sit_records, left_out = instruction_records(
        questions, captions.captions if captions else {}, seed=config.seed, image_root=config.image_root
    )
    counts.update({f"vqa_{reason}": n for reason, n in left_out.items()})
    sit_of = {record["source_id"]: record for record in sit_records}
    for record in it_records:
        if config.include_original:
            yield record, None
        if record["source_id"] in sit_of:
            yield sit_of[record["source_id"]], None


def _group(record: dict) -> str:
    """What the summary counts a written record under: "repeat/en", "translate/zh" (steps/lang), "original/en"."""
    steps = "+".join(step["task"] for step in record["steps"]) or "original"
    return f"{steps}/{record.get('lang')}"


def _write(handle: IO[str], records: Iterable[dict], counts: Counter, groups: Counter) -> None:
    for record in records:
        handle.write(dumps_record(record))
        counts[f"written_{record['kind']}"] += 1
        groups[_group(record)] += 1


def run_augment(config: AugmentConfig) -> dict[str, Any]:
    """Run the stage; returns the summary (also written to the output's manifest as `counts`)."""
    started = time.time()
    policy = ErrorPolicy(config.on_error)
    counts: Counter = Counter()
    groups: Counter = Counter()
    output = Path(config.output)
    mixture_report: dict[str, Any] = {}
    context = StepContext(config)
    try:
        produced = _augment(config, policy, context, counts)
        with atomic_write(output) as handle:
            if config.mix or config.shuffle:
                everything = list(produced)
                kept, mixture_report = apply_mixture(
                    [record for record, _ in everything],
                    config.mix,
                    config.seed,
                    config.shuffle,
                    pairs=[pair for _, pair in everything] if config.parallel_disjoint else None,
                )
                _write(handle, kept, counts, groups)
            else:
                _write(handle, (record for record, _ in produced), counts, groups)
    finally:
        context.close()
    summary = _summary(counts, groups, policy, context, mixture_report)
    write_manifest(
        output,
        stage="augment",
        config=to_dict(config),
        started=started,
        inputs=config.input_files,
        counts=summary,
        seed=config.seed,
    )
    print(format_summary(summary, output, time.time() - started))
    return summary


def _summary(
    counts: Counter, groups: Counter, policy: ErrorPolicy, context: StepContext, mixture: dict
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "read": counts["read"],
        "written": counts["written_original"] + counts["written_sequential"],
        "written_original": counts["written_original"],
        "written_sequential": counts["written_sequential"],
        "written_by_group": dict(sorted(groups.items())),
        "left_unchanged_no_input": counts["left_unchanged_no_input"],
        "no_steps_asked": counts["no_steps_asked"],
        "skipped": dict(sorted(policy.skipped.items())),
    }
    if policy.first_errors:
        summary["first_errors"] = policy.first_errors
    if context.lm_stats is not None:
        summary["model_calls"] = context.lm_stats
    if context.translation_stats:
        summary["translation_calls"] = context.translation_stats
    if mixture:
        summary["mixture"] = mixture
    if counts["vqa_questions"]:
        summary["vqa"] = {
            key.removeprefix("vqa_"): n for key, n in sorted(counts.items()) if key.startswith("vqa_")
        }
    return summary


def format_summary(summary: dict[str, Any], output: Path, seconds: float) -> str:
    lines = [
        f"seqtune augment → {output}  ({seconds:.1f} s)",
        f"  read {summary['read']:,} records; wrote {summary['written']:,} "
        f"({summary['written_sequential']:,} sequential, {summary['written_original']:,} original)",
        "  written by steps/lang: "
        + (", ".join(f"{group} {n:,}" for group, n in summary["written_by_group"].items()) or "none"),
        f"  left without a sequential version (no input): {summary['left_unchanged_no_input']:,}",
    ]
    if summary["no_steps_asked"]:
        lines.append(f"  kept as originals only (no steps asked): {summary['no_steps_asked']:,}")
    skipped = summary["skipped"]
    lines.append(
        "  skipped: " + (", ".join(f"{reason} {n:,}" for reason, n in skipped.items()) if skipped else "none")
    )
    for error in summary.get("first_errors", [])[:3]:
        lines.append(f"    e.g. {error}")
    if "vqa" in summary:
        vqa = summary["vqa"]
        lines.append(
            f"  VQA: {vqa['questions']:,} questions, {vqa['drawn']:,} drawn; without a SIT record (no caption of the image): "
            f"{vqa.get('no_caption', 0):,}; without any record (no answer): {vqa.get('no_answer', 0):,}"
        )
    if "model_calls" in summary:
        stats = summary["model_calls"]
        lines.append("  model calls: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    for lang, stats in summary.get("translation_calls", {}).items():
        lines.append(f"  translation calls into {lang}: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    for key, report in summary.get("mixture", {}).items():
        line = f"  mix {key}: kept {report['kept']:,} of {report['available']:,}"
        if report.get("skipped_drawn_for_another_language"):
            line += f" ({report['skipped_drawn_for_another_language']:,} skipped: drawn for another language)"
        lines.append(line)
    lines.append(f"  manifest: {manifest_path(output)}")
    return "\n".join(lines)
