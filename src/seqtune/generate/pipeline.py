"""The `generate` and `eval` stages.

generate: task examples × prompt variants → one prediction per (example, variant) in `predictions.jsonl`, plus
`manifest.json`. Each prediction carries what scoring needs (gold, expected steps, ...) so that `score` needs
neither the data nor a model. Responses are appended to `predictions.partial.jsonl` as batches finish; a re-run
reuses every saved prediction whose prompt, model and decoding are unchanged and generates only the rest. The
final file is written atomically in task order (variant, then example), so a resumed run gives the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from seqtune.config import build, to_dict
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.backend import BACKENDS, Backend, Decoding
from seqtune.generate.config import EvalConfig, GenerateConfig
from seqtune.manifest import write_manifest
from seqtune.prompts import PromptTemplate, get_template
from seqtune.records import dumps_record, write_jsonl
from seqtune.tasks import TASKS, Example, PromptSpec

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
PARTIAL = "predictions.partial.jsonl"


@dataclass
class Job:
    example: Example
    variant: str
    spec: PromptSpec
    prompt: str

    @property
    def key(self) -> tuple[str, str]:
        return self.example.id, self.variant


def decoding_from(config: GenerateConfig) -> Decoding:
    return Decoding(
        max_new_tokens=config.max_new_tokens,
        min_new_tokens=config.min_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        stop=tuple(config.stop),
        seed=config.seed,
    )


def choose_template(backend: Backend, configured: str) -> PromptTemplate:
    """The template saved beside the model/adapter (how it was trained), else the configured one."""
    saved = backend.saved_template()
    if saved is not None:
        if configured != "alpaca" and configured != saved.name:
            log.warning(
                "using the prompt template saved with the model (%s), not '%s'", saved.name, configured
            )
        return saved
    return get_template(configured)


def build_jobs(
    task, examples: list[Example], variants: list[str], backend: Backend, template: PromptTemplate
) -> list[Job]:
    jobs, seen = [], set()
    for variant in variants:
        for example in examples:
            if (example.id, variant) in seen:
                raise SeqtuneError(f"task '{task.name}': example id '{example.id}' occurs twice")
            seen.add((example.id, variant))
            spec = task.build_prompt(example, variant)
            if spec.response_prefix and not backend.continues_prompt:
                raise ConfigError(
                    f"variant '{variant}' forces the start of the response, which the '{backend.name}' back-end "
                    "(chat API) cannot do; use backend=hf"
                )
            # the forced start of the response is part of what the model reads, never of what it wrote
            prompt = backend.render(template, spec.instruction, spec.input) + spec.response_prefix
            jobs.append(Job(example, variant, spec, prompt))
    return jobs


def prediction_record(
    job: Job, response: str, backend: Backend, decoding: dict, template: PromptTemplate, task
) -> dict:
    return {
        "id": job.example.id,
        "task": task.name,
        "variant": job.variant,
        "prompt": job.prompt,
        "response": response,
        "model": backend.model,
        "adapter": backend.adapter,
        "decoding": decoding,
        "prompt_template": template.name,
        **task.prediction_fields(job.example, job.spec),
    }


def read_saved(paths: list[Path]) -> dict[tuple[str, str], dict]:
    """Predictions already on disk, by (id, variant). A torn last line of an interrupted run is ignored."""
    saved: dict[tuple[str, str], dict] = {}
    for path in paths:
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                    saved[(record["id"], record["variant"])] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    log.warning("%s: ignoring an unreadable line (an interrupted write)", path)
    return saved


def reusable(saved: dict | None, fresh: dict) -> bool:
    """A saved prediction is reused only when everything but the response (prompt, model, adapter, decoding,
    gold, ...) is what this run would write; compared in JSON form, as it was saved."""
    if saved is None:
        return False
    expected = json.loads(json.dumps({key: value for key, value in fresh.items() if key != "response"}))
    return {key: value for key, value in saved.items() if key != "response"} == expected


def load_task(config: GenerateConfig):
    task = TASKS.get(config.task)()
    examples = task.load(config.data, limit=config.limit, **config.task_options)  # raises when empty
    known = task.variant_names()
    variants = config.variants or known
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise ConfigError(
            f"task '{config.task}' has no variant(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return task, examples, variants


@dataclass
class Outcome:
    path: Path
    template: PromptTemplate
    records: list[dict]
    reused: int


def generate_all(config: GenerateConfig, task, examples, variants, backend: Backend, output: Path) -> Outcome:
    """Build the jobs, reuse the saved predictions that still match, generate the rest, write predictions.jsonl."""
    template = choose_template(backend, config.prompt_template)
    decoding = decoding_from(config)
    decoding_dict = decoding.to_dict()
    jobs = build_jobs(task, examples, variants, backend, template)

    final_path, partial_path = output / PREDICTIONS, output / PARTIAL
    saved = read_saved([final_path, partial_path])
    # every record as this run writes it, the response still empty
    fresh = {job.key: prediction_record(job, "", backend, decoding_dict, template, task) for job in jobs}
    records: dict[tuple[str, str], dict] = {}
    for job in jobs:
        if reusable(saved.get(job.key), fresh[job.key]):
            records[job.key] = saved[job.key]
    pending = [job for job in jobs if job.key not in records]
    log.info(
        "%s: %d prompts (%d already done), %d to generate", config.task, len(jobs), len(records), len(pending)
    )

    if pending:
        # rewrite the partial file with the reusable records only, then append as batches finish
        with open(partial_path, "w", encoding="utf-8") as partial:
            for record in records.values():
                partial.write(dumps_record(record))

            def save(indices: list[int], texts: list[str]) -> None:
                for index, text in zip(indices, texts, strict=True):
                    job = pending[index]
                    record = {**fresh[job.key], "response": text}  # the key keeps its place in the record
                    records[job.key] = record
                    partial.write(dumps_record(record))
                partial.flush()
                os.fsync(partial.fileno())

            backend.generate([job.prompt for job in pending], decoding, on_done=save)
        missing = [job.key for job in pending if job.key not in records]
        if missing:
            raise SeqtuneError(
                f"back-end '{backend.name}' returned no response for {len(missing)} prompt(s), e.g. {missing[0]}"
            )

    ordered = [records[job.key] for job in jobs]
    write_jsonl(final_path, ordered)
    partial_path.unlink(missing_ok=True)
    return Outcome(final_path, template, ordered, len(jobs) - len(pending))


def run_generate(config: GenerateConfig) -> Path:
    """Write OUTPUT/predictions.jsonl and OUTPUT/manifest.json; returns the predictions path."""
    started = time.time()
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    task, examples, variants = load_task(config)
    backend = BACKENDS.get(config.backend)(config)
    try:
        outcome = generate_all(config, task, examples, variants, backend, output)
    finally:
        backend.close()
    data_inputs = [config.data] if config.data and Path(config.data).exists() else []
    predictions = len(outcome.records)
    write_manifest(
        output,
        stage="generate",
        config=to_dict(config),
        started=started,
        inputs=data_inputs,
        seed=config.seed,
        counts={
            "examples": len(examples),
            "variants": len(variants),
            "predictions": predictions,
            "reused": outcome.reused,
            "generated": predictions - outcome.reused,
            "empty_responses": sum(1 for record in outcome.records if not record["response"].strip()),
        },
        extra={
            **backend.describe(),
            "prompt_template": outcome.template.name,
            "decoding": decoding_from(config).to_dict(),
        },
    )
    log.info("wrote %s (%d predictions)", outcome.path, predictions)
    return outcome.path


def run_eval(config: EvalConfig) -> Path:
    """generate, then score the predictions into the same folder (scores.jsonl, summary.json)."""
    from seqtune.score import ScoreConfig, run_score

    predictions = Path(config.output) / PREDICTIONS
    values = {**config.score_options, "predictions": [str(predictions)], "output": config.output}
    # built first, so that a bad score option fails before any generating
    score_config = build(ScoreConfig, values, context="eval score_options")
    run_generate(config)
    run_score(score_config)
    return predictions
