"""The `generate` and `eval` stages.

generate: task examples × prompt variants → one prediction per (example, variant) in `predictions.jsonl`, plus
`manifest.json`. Each (example, variant) becomes one request to the model (seqtune.lm: a local HF model, an
OpenAI-compatible server or a replay of responses written elsewhere). Each prediction carries what scoring needs
(gold, expected steps, ...) so that `score` needs neither the data nor a model. Responses are appended to `predictions.partial.jsonl` as batches finish; a re-run
reuses every saved prediction whose prompt, model and decoding are unchanged and generates only the rest. The
final file is written atomically in task order (variant, then example), so a resumed run gives the same bytes.
A back-end that replays responses written elsewhere (`backend=responses`) reuses nothing, and the examples it has
no response for are left out of the predictions (it counts and names them).
Tasks with images (vqav2, gqa: the prediction's `image`, under task_options.image_root) show each request its image
(`Request.images`) when the back-end reads images (InstructBLIP through backend=hf, a server's chat endpoint); a
text-only back-end on such a task, or InstructBLIP on a task without images, is a config error before any model call.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from seqtune import layout
from seqtune.config import build, to_dict
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.config import EvalConfig, GenerateConfig
from seqtune.lm.base import LM, Completion, Decoding, Request
from seqtune.lm.settings import build_lm
from seqtune.manifest import write_manifest
from seqtune.prompts import PromptTemplate, get_template
from seqtune.records import dumps_record, write_jsonl
from seqtune.tasks import TASKS, Example, PromptSpec

log = logging.getLogger(__name__)

PREDICTIONS = layout.PREDICTIONS
PARTIAL = "predictions.partial.jsonl"
CACHE = "lm_cache.sqlite"
"""The answer cache of a server's answers when `cache_path` names none (a local model resumes from PARTIAL)."""


@dataclass
class Job:
    example: Example
    variant: str
    spec: PromptSpec
    request: Request
    prompt: str
    """What the model reads (recorded in the prediction)."""
    fields: dict
    """The task's prediction fields (gold, expected steps, image ...)."""

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


def choose_template(lm: LM, configured: str) -> PromptTemplate:
    """The template saved beside the model/adapter (how it was trained), else the configured one."""
    saved = lm.saved_template()
    if saved is not None:
        if configured != "alpaca" and configured != saved.name:
            log.warning(
                "using the prompt template saved with the model (%s), not '%s'", saved.name, configured
            )
        return saved
    return get_template(configured)


def images_shown(task, fields: dict, lm: LM, task_options: dict) -> tuple[str, ...]:
    """The images the model sees with this prediction's prompt: the task's `image` (already under
    task_options.image_root when one is given), for a back-end that reads images; none for a replay."""
    image = fields.get("image")
    if lm.replays:
        return ()
    if image is None:
        if lm.needs_images:
            raise ConfigError(
                f"model '{lm.model}' reads an image with every prompt, and task '{task.name}' has none: "
                "give it a task with images (vqav2, gqa)"
            )
        return ()
    if not lm.sees_images:
        raise ConfigError(
            f"task '{task.name}' shows the model an image, which the {lm.name} back-end cannot do with "
            f"'{lm.model}' (text only): use an InstructBLIP model with backend=hf, a vision-language model "
            "served with backend=openai and endpoint=chat, or backend=responses"
        )
    if not task_options.get("image_root") and not Path(image).is_absolute():
        raise ConfigError(
            f"task '{task.name}': its image paths are relative ({image}) and the model reads the images: set "
            "task_options.image_root to the folder they are under"
        )
    return (image,)


def build_jobs(
    task,
    examples: list[Example],
    variants: list[str],
    lm: LM,
    template: PromptTemplate,
    decoding: Decoding,
    task_options: dict | None = None,
) -> list[Job]:
    jobs, seen = [], set()
    for variant in variants:
        for example in examples:
            if (example.id, variant) in seen:
                raise SeqtuneError(f"task '{task.name}': example id '{example.id}' occurs twice")
            seen.add((example.id, variant))
            spec = task.build_prompt(example, variant)
            fields = task.prediction_fields(example, spec)
            if spec.response_prefix and not lm.continues_prompt:
                raise ConfigError(
                    f"variant '{variant}' forces the start of the response, which the '{lm.name}' back-end's chat "
                    "API cannot do; use backend=hf, or endpoint=completions, or continue_final_message=true "
                    "(a vLLM server)"
                )
            # a chat template is the model's own (the tokenizer's or the server's): the request is a chat then
            written = (
                {
                    "messages": (
                        {"role": "user", "content": template.user_message(spec.instruction, spec.input)},
                    )
                }
                if template.kind == "chat"
                else {"prompt": template.render(spec.instruction, spec.input)}
            )
            # the forced start of the response is part of what the model reads, never of what it wrote
            request = Request(
                **written,
                response_prefix=spec.response_prefix,
                decoding=decoding,
                images=images_shown(task, fields, lm, task_options or {}),
                id=(example.id, variant),
            )
            jobs.append(Job(example, variant, spec, request, lm.prompt_text(request), fields))
    return jobs


def prediction_record(
    job: Job, response: str, lm: LM, decoding: dict, template: PromptTemplate, task
) -> dict:
    return {
        "id": job.example.id,
        "task": task.name,
        "variant": job.variant,
        "prompt": job.prompt,
        "response": response,
        "model": lm.model,
        "adapter": lm.adapter,
        "decoding": decoding,
        "prompt_template": template.name,
        **job.fields,
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


def recorded_decoding(lm: LM, decoding: Decoding) -> dict:
    """The decoding settings every prediction records: this run's, unless the responses were decoded elsewhere."""
    return lm.decoding if lm.replays else decoding.to_dict()


def generate_all(config: GenerateConfig, task, examples, variants, lm: LM, output: Path) -> Outcome:
    """Build the jobs, reuse the saved predictions that still match, generate the rest, write predictions.jsonl."""
    template = choose_template(lm, config.prompt_template)
    decoding = decoding_from(config)
    decoding_dict = recorded_decoding(lm, decoding)
    jobs = build_jobs(task, examples, variants, lm, template, decoding, config.task_options)

    final_path, partial_path = output / PREDICTIONS, output / PARTIAL
    # a replay reads its file afresh every run: a saved prediction is never reused, since the file may have changed
    saved = {} if lm.replays else read_saved([final_path, partial_path])
    # every record as this run writes it, the response still empty
    fresh = {job.key: prediction_record(job, "", lm, decoding_dict, template, task) for job in jobs}
    records: dict[tuple[str, str], dict] = {}
    for job in jobs:
        if reusable(saved.get(job.key), fresh[job.key]):
            records[job.key] = saved[job.key]
    pending = [job for job in jobs if job.key not in records]
    log.info(
        "%s: %d prompts (%d already done), %d to generate", config.task, len(jobs), len(records), len(pending)
    )

    if pending:
        # rewrite the partial file with the reusable records only, then append as answers arrive
        with open(partial_path, "w", encoding="utf-8") as partial:
            for record in records.values():
                partial.write(dumps_record(record))

            def save(indices: list[int], completions: list[Completion]) -> None:
                for index, completion in zip(indices, completions, strict=True):
                    if completion.ok:
                        job = pending[index]
                        record = {**fresh[job.key], "response": completion.text}  # the key keeps its place
                        records[job.key] = record
                        partial.write(dumps_record(record))
                partial.flush()
                os.fsync(partial.fileno())

            completions = lm.complete(
                [job.request for job in pending], on_done=save, desc=f"generate {task.name}"
            )
        # a replay leaves out the examples its file has no response for (it counts and names them)
        failures = [c for c in completions if not c.ok and not (lm.replays and c.failure == "no_response")]
        if failures:
            raise SeqtuneError(
                f"{lm.name} back-end ({lm.model}): {len(failures)} of {len(pending)} request(s) failed "
                f"(first: {failures[0].error}); answers received are saved, re-run to retry the rest"
            )

    ordered = [records[job.key] for job in jobs if job.key in records]
    write_jsonl(final_path, ordered)
    partial_path.unlink(missing_ok=True)
    return Outcome(final_path, template, ordered, len(jobs) - len(pending))


def build_generate_lm(config: GenerateConfig, output: Path) -> LM:
    if config.backend == "responses":
        from seqtune.lm.responses import from_config

        return from_config(config)
    # a local model resumes from the partial predictions; a server's answers are cached as they arrive
    cache = config.cache_path or (str(output / CACHE) if config.backend == "openai" else None)
    # generate keeps an empty or cut-off answer: it is what the model said, and scoring judges it
    return build_lm(config, reject_incomplete=False, cache_path=cache)


def run_generate(config: GenerateConfig) -> Path:
    """Write OUTPUT/predictions.jsonl and its manifest; returns the predictions path."""
    output = Path(config.output)
    inputs = [path for path in (config.data, config.responses) if path and Path(path).exists()]
    for name in (PREDICTIONS, PARTIAL):
        layout.refuse_output_that_is_input(output / name, inputs)
    with layout.locked(output, "seqtune generate"):
        return _generate(config, output, inputs)


def _generate(config: GenerateConfig, output: Path, inputs: list[str]) -> Path:
    started = time.time()
    task, examples, variants = load_task(config)
    lm = build_generate_lm(config, output)
    try:
        outcome = generate_all(config, task, examples, variants, lm, output)
    finally:
        lm.close()
    predictions = len(outcome.records)
    write_manifest(
        outcome.path,
        stage="generate",
        config=to_dict(config),
        started=started,
        inputs=inputs,
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
            **lm.describe(),
            "prompt_template": outcome.template.name,
            "decoding": recorded_decoding(lm, decoding_from(config)),
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
