"""`seqtune seqinstruct`: classify → rewrite (k rounds) → respond, through the one language-model layer.

Records stream through in chunks of `chunk_size`. For a chunk, each round sends one batch of classification
requests for the records still open, then one batch of rewrite requests for those that got decompose / prefix /
suffix; a record kept (D) or whose reply could not be read is closed, keeping the instruction it had. Then one
batch answers every final instruction (and, with `it_output`, every original one; a record never rewritten asks
the same question twice, which the layer sends once). Every answer is cached as it arrives, so a killed run
resumes without asking twice and gives the same files.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from seqtune.config import to_dict
from seqtune.data.instructions import InstructionRecord, iter_instruction_records
from seqtune.layout import manifest_path
from seqtune.lm.base import LM, Completion, Decoding, Request
from seqtune.lm.settings import build_lm
from seqtune.manifest import write_manifest
from seqtune.records import ErrorPolicy, atomic_write, dumps_record
from seqtune.seqinstruct.config import SeqInstructConfig
from seqtune.seqinstruct.parsing import (
    OPERATIONS,
    REWRITES,
    Parsed,
    parse_classification,
    parse_rewrite,
    strip_thinking,
)
from seqtune.seqinstruct.prompts import NO_INPUT, Prompt, load_prompts


@dataclass
class Item:
    """One record on its way through the rounds."""

    record: InstructionRecord
    instruction: str
    rounds: list[dict] = field(default_factory=list)
    """Per round it took part in: {round, operation, instruction (after the round), failure}."""
    open: bool = True
    """Reconsidered in the next round: rewritten in this one."""

    @property
    def operations(self) -> list[str]:
        """The rewrites applied, in order."""
        return [
            entry["operation"]
            for entry in self.rounds
            if entry["operation"] in REWRITES and not entry["failure"]
        ]


class Tally:
    """What the summary counts: per round the classifier's decisions and the unreadable replies, in all rounds
    the unreadable replies by 'stage:reason'."""

    def __init__(self, rounds: int):
        self.rounds = [Counter() for _ in range(rounds)]
        self.unparsed: Counter[str] = Counter()

    def failure(self, reason: str, number: int | None = None) -> str:
        """Count `reason` ('stage:reason'), in round `number` too when given; returns it."""
        if number is not None:
            self.rounds[number - 1][f"unparsed:{reason}"] += 1
        self.unparsed[reason] += 1
        return reason


def _failure(stage: str, completion: Completion, parsed: Parsed | None) -> str | None:
    """'stage:reason' for a request that gave no usable answer or a reply that could not be read, else None."""
    if not completion.ok:
        return f"{stage}:{completion.failure}"
    if parsed is not None and parsed.failure:
        return f"{stage}:{parsed.failure}"
    return None


class SeqInstruct:
    """The model, the prompts and the decoding settings of one run."""

    def __init__(self, config: SeqInstructConfig, lm: LM, prompts: dict[str, Prompt]):
        self.config = config
        self.lm = lm
        self.prompts = prompts
        tokens = config.max_new_tokens
        self.classify_decoding = Decoding(max_new_tokens=tokens, temperature=config.classify_temperature)
        self.rewrite_decoding = Decoding(
            max_new_tokens=tokens,
            temperature=config.rewrite_temperature,
            top_p=config.rewrite_top_p,
            seed=config.seed,
        )
        self.respond_decoding = Decoding(
            max_new_tokens=tokens,
            temperature=config.respond_temperature,
            top_p=config.respond_top_p,
            seed=config.seed,
        )

    def _request(
        self, prompt: str, instruction: str, record: InstructionRecord, decoding: Decoding
    ) -> Request:
        input_text = record.input if record.has_input else (NO_INPUT if prompt != "respond" else "")
        return Request.chat(
            "", self.prompts[prompt].render(instruction, input_text), decoding, id=(record.id, prompt)
        )

    def round(self, number: int, items: list[Item], tally: Tally) -> None:
        """Classify the open items, rewrite those given an operation; close the kept and the unreadable ones."""
        counts = tally.rounds[number - 1]
        counts["considered"] += len(items)
        requests = [self._request("classify", i.instruction, i.record, self.classify_decoding) for i in items]
        completions = self.lm.complete(requests, desc=f"round {number}: classify")
        rewrites: list[tuple[Item, str]] = []
        for item, completion in zip(items, completions, strict=True):
            parsed = parse_classification(completion.text) if completion.ok else None
            failure = _failure("classify", completion, parsed)
            if failure:
                self._close(item, number, None, tally.failure(failure, number))
                continue
            operation = parsed.value
            counts[f"operation:{operation}"] += 1
            if operation == "keep":
                self._close(item, number, operation, None)
            else:
                rewrites.append((item, operation))
        requests = [
            self._request(op, item.instruction, item.record, self.rewrite_decoding) for item, op in rewrites
        ]
        completions = self.lm.complete(requests, desc=f"round {number}: rewrite")
        for (item, operation), completion in zip(rewrites, completions, strict=True):
            parsed = parse_rewrite(completion.text, item.instruction) if completion.ok else None
            failure = _failure("rewrite", completion, parsed)
            if failure:
                self._close(item, number, operation, tally.failure(failure, number))
                continue
            counts["rewritten"] += 1
            item.instruction = parsed.value
            item.rounds.append(
                {"round": number, "operation": operation, "instruction": item.instruction, "failure": None}
            )

    @staticmethod
    def _close(item: Item, number: int, operation: str | None, failure: str | None) -> None:
        item.rounds.append(
            {"round": number, "operation": operation, "instruction": item.instruction, "failure": failure}
        )
        item.open = False

    def respond(self, items: list[Item], *, control: bool) -> tuple[list[Completion], list[Completion]]:
        """Answers to the final instructions and, with `control`, to the original ones (one batch)."""
        finals = [self._request("respond", i.instruction, i.record, self.respond_decoding) for i in items]
        originals = [
            self._request("respond", i.record.instruction, i.record, self.respond_decoding)
            for i in (items if control else [])
        ]
        completions = self.lm.complete(finals + originals, desc="respond")
        return completions[: len(items)], completions[len(items) :]


def _response(completion: Completion, stage: str, tally: Tally) -> tuple[str | None, str | None]:
    """(response text, None), or (None, counted 'stage:reason') when there is none: the request failed, or only
    a <think> block came back (empty)."""
    if not completion.ok:
        return None, tally.failure(f"{stage}:{completion.failure}")
    text = strip_thinking(completion.text).strip()
    return (text, None) if text else (None, tally.failure(f"{stage}:empty"))


def _record(
    record: InstructionRecord,
    instruction: str,
    output: str,
    *,
    kind: str,
    provenance: dict,
    record_id: str | None = None,
    template: str = "",
) -> dict[str, Any]:
    """An Alpaca-compatible record shaped like `seqtune augment`'s (steps: Seq-Instruct's sub-tasks are written in
    the instruction and have no separate expected text; final: the whole response)."""
    out = {
        "id": record_id or record.id,
        "source_id": record.id,
        "kind": kind,
        "instruction": instruction,
        "input": record.input,
        "output": output,
        "steps": [],
        "final": output,
        "template": template,
        "lang": record.lang,
    }
    if record.image is not None:
        out["image"] = record.image
    out["seqinstruct"] = provenance
    return out


def _provenance(
    run: SeqInstruct, record: InstructionRecord, names: Iterable[str], failure: str | None
) -> dict:
    return {
        "original_instruction": record.instruction,
        "original_output": record.output,
        "model": run.config.model,
        "prompts": {name: run.prompts[name].sha256 for name in names},
        "response": "original" if failure else "model",
        "response_failure": failure,
    }


def sequential_record(
    run: SeqInstruct, item: Item, response: str | None, failure: str | None
) -> dict[str, Any]:
    """The output record of `item`: its final instruction and the model's response; a record never rewritten is
    kind "original"; a record without a response (`failure`) is kept unchanged (original instruction and output)."""
    record = item.record
    operations = item.operations
    provenance = {
        **_provenance(run, record, run.prompts, failure),
        "operations": operations,
        "rounds": item.rounds,
    }
    if failure or not operations:
        instruction, output = (record.instruction, record.output) if failure else (item.instruction, response)
        return _record(record, instruction, output, kind="original", provenance=provenance)
    return _record(
        record,
        item.instruction,
        response,
        record_id=f"{record.id}:seqinstruct",
        kind="sequential",
        template="seqinstruct/" + "+".join(operations),
        provenance=provenance,
    )


def control_record(run: SeqInstruct, item: Item, response: str | None, failure: str | None) -> dict[str, Any]:
    """The IT control of `item`: its original instruction and the model's response to it (without one, the
    record's own output)."""
    record = item.record
    provenance = _provenance(run, record, ["respond"], failure)
    output = record.output if failure else response
    return _record(record, record.instruction, output, kind="original", provenance=provenance)


def _write(handle: IO[str], record: dict, counts: Counter, prefix: str) -> None:
    handle.write(dumps_record(record))
    counts[f"{prefix}{record['kind']}"] += 1


def run_seqinstruct(config: SeqInstructConfig) -> dict[str, Any]:
    """Run the stage; returns the summary (also written to the outputs' manifests as `counts`)."""
    started = time.time()
    prompts = load_prompts(config)
    policy = ErrorPolicy(config.on_error)
    counts: Counter = Counter()
    tally = Tally(config.rounds)
    output = Path(config.output)
    control_output = Path(config.it_output) if config.it_output else None
    # an empty or cut-off answer would become a training target or a half-read verdict: a failure here
    lm = build_lm(config, reject_incomplete=True, cache_path=str(config.answer_cache))
    run = SeqInstruct(config, lm, prompts)
    try:
        with ExitStack() as stack:
            handle = stack.enter_context(atomic_write(output))
            control = stack.enter_context(atomic_write(control_output)) if control_output else None
            for spec in config.inputs:
                records = iter_instruction_records(
                    spec, policy, field_map=config.field_map, lang=config.lang, hf_split=config.hf_split
                )
                while chunk := list(itertools.islice(records, config.chunk_size)):
                    counts["read"] += len(chunk)
                    items = [Item(record, record.instruction) for record in chunk]
                    for number in range(1, config.rounds + 1):
                        run.round(number, [item for item in items if item.open], tally)
                    answers, controls = run.respond(items, control=control is not None)
                    responses = [_response(c, "respond", tally) for c in answers]
                    if control is None:
                        for item, (response, failure) in zip(items, responses, strict=True):
                            _write(
                                handle, sequential_record(run, item, response, failure), counts, "written_"
                            )
                        continue
                    control_responses = [_response(c, "respond_control", tally) for c in controls]
                    for item, (response, failure), (control_response, control_failure) in zip(
                        items, responses, control_responses, strict=True
                    ):
                        # the two files differ only in instructions: a response missing on either side makes
                        # both keep the record's own output
                        failure = failure or (control_failure and f"paired {control_failure}")
                        control_failure = control_failure or (failure and f"paired {failure}")
                        _write(handle, sequential_record(run, item, response, failure), counts, "written_")
                        paired = control_record(run, item, control_response, control_failure)
                        _write(control, paired, counts, "control_")
    finally:
        lm.close()
    summary = _summary(counts, tally, policy, lm)
    manifests = [(output, "sequential")] + ([(control_output, "it_control")] if control_output else [])
    for path, role in manifests:
        write_manifest(
            path,
            stage="seqinstruct",
            config=to_dict(config),
            started=started,
            inputs=config.input_files,
            counts=summary,
            seed=config.seed,
            extra={
                "role": role,
                "prompts": {p.name: {"source": p.source, "sha256": p.sha256} for p in prompts.values()},
            },
        )
    print(format_summary(summary, output, control_output, time.time() - started))
    return summary


def _round_summary(number: int, counts: Counter) -> dict[str, Any]:
    decisions = {operation: counts[f"operation:{operation}"] for operation in OPERATIONS.values()}
    classified = sum(decisions.values())
    return {
        "round": number,
        "considered": counts["considered"],
        "classified": classified,
        "operations": decisions,
        "shares": {op: round(n / classified, 4) if classified else None for op, n in decisions.items()},
        "rewritten": counts["rewritten"],
        "unparsed": {
            key.removeprefix("unparsed:"): n
            for key, n in sorted(counts.items())
            if key.startswith("unparsed:")
        },
    }


def _summary(counts: Counter, tally: Tally, policy: ErrorPolicy, lm: LM) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "read": counts["read"],
        "written": counts["written_sequential"] + counts["written_original"],
        "written_sequential": counts["written_sequential"],
        "written_original": counts["written_original"],
        "rounds": [_round_summary(number, c) for number, c in enumerate(tally.rounds, start=1)],
        "unparsed": dict(sorted(tally.unparsed.items())),
        "skipped": dict(sorted(policy.skipped.items())),
        "model_calls": dict(lm.stats),
    }
    if counts["control_original"]:
        summary["it_control_written"] = counts["control_original"]
    if policy.first_errors:
        summary["first_errors"] = policy.first_errors
    return summary


def format_summary(summary: dict[str, Any], output: Path, control: Path | None, seconds: float) -> str:
    lines = [
        f"seqtune seqinstruct → {output}  ({seconds:.1f} s)",
        f"  read {summary['read']:,} records; wrote {summary['written']:,} "
        f"({summary['written_sequential']:,} sequential, {summary['written_original']:,} kept as they were)",
    ]
    for entry in summary["rounds"]:
        shares = ", ".join(
            f"{op} {n:,} ({entry['shares'][op]:.0%})" if n else f"{op} 0"
            for op, n in entry["operations"].items()
        )
        lines.append(
            f"  round {entry['round']}: considered {entry['considered']:,}, classified {entry['classified']:,}: "
            f"{shares}; rewritten {entry['rewritten']:,}"
        )
    unparsed = summary["unparsed"]
    lines.append(
        "  unreadable or failed replies (record kept as it was): "
        + (", ".join(f"{reason} {n:,}" for reason, n in unparsed.items()) or "none")
    )
    skipped = summary["skipped"]
    lines.append(
        "  skipped input records: " + (", ".join(f"{r} {n:,}" for r, n in skipped.items()) or "none")
    )
    for error in summary.get("first_errors", [])[:3]:
        lines.append(f"    e.g. {error}")
    lines.append("  model calls: " + ", ".join(f"{k} {v:,}" for k, v in summary["model_calls"].items()))
    if control is not None:
        lines.append(f"  IT control ({summary.get('it_control_written', 0):,} records): {control}")
    lines.append(f"  manifest: {manifest_path(output)}")
    return "\n".join(lines)
