"""`seqtune run CONFIG.yaml`: augment / seqinstruct → train (one model per arm) → generate → score → report in one
folder.

The folder's layout is `seqtune.layout.RunLayout`'s. Before anything runs, every stage config is built and
validated and every name is checked against its registry (tasks, their variants, steps), so a typo
fails in a second, not after training. A run writes only into a folder it created (or an empty one), holds a lock
on it so that a second run on the same folder is refused, and deletes only inside folders it created.

Each finished stage leaves a marker holding a hash of its resolved config, of the content of the input files it
names and of the stages it depends on. A stage whose marker matches is skipped, so an interrupted run resumes
where it stopped (and the interrupted stage resumes on its own: training from its last checkpoint, generation
from its saved responses); a changed input file runs its stage again. Scoring is cheap and deterministic, so it
is always recomputed from the saved predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqtune import layout
from seqtune.config import build, load_yaml, to_dict
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.layout import RunLayout
from seqtune.manifest import HashCache
from seqtune.records import (
    check_writable_folder,
    iter_json_records,
    looks_like_path,
    remove_stale_temporaries,
    write_json,
    write_jsonl,
)
from seqtune.train.config import TINY_FAMILIES  # a run builds one tiny base and shares it

log = logging.getLogger(__name__)

STAGES = ("augment", "seqinstruct", "train", "generate", "score", "judge", "report")
DATA_SOURCES = ("original", "augmented", "seqinstruct", "seqinstruct-it")
"""What an arm's `data` may name besides a file: the outputs of the run's augment and seqinstruct stages."""
# Config keys that name what a stage writes; keys naming a cache (which the stage both reads and writes, and
# whose content never changes what it computes) are left out too: neither holds an input of the stage.
_OUTPUT_KEYS = ("output", "output_dir")


@dataclass
class RunConfig:
    output_dir: str
    """The run folder; every stage writes below it."""
    name: str = "run"
    """A name for the run, shown in the logs."""
    seed: int = 0
    """Seed for augmentation and training (a stage section may set its own)."""
    augment: dict[str, Any] = field(default_factory=dict)
    """`seqtune augment` options (inputs, steps, ...); `output` is set by the run."""
    seqinstruct: dict[str, Any] = field(default_factory=dict)
    """`seqtune seqinstruct` options (inputs, backend, model, base_url, rounds ...): an LLM rewrites the instructions
    into sequential ones and answers them (arm data `seqinstruct`); arm data `seqinstruct-it` is the original
    instructions answered by the same model (the IT control). `output` and `it_output` are set by the run."""
    arms: dict[str, Any] = field(
        default_factory=lambda: {"IT": {"data": "original"}, "SIT": {"data": "augmented"}}
    )
    """Models to compare. Each arm: `data` (original | augmented | seqinstruct | seqinstruct-it | a file) and
    optional `train` overrides; or
    `model` (a hub id or folder) to evaluate an existing model without training; or `untuned: true` to evaluate
    the base model the trained arms start from (`train.model`, or the shared tiny base), untrained — the "prompt"
    row of Table 4."""
    train: dict[str, Any] = field(default_factory=dict)
    """`seqtune train` options shared by every arm (`preset: FILE.yaml` loads a preset under them); `data` and
    `output_dir` are set by the run."""
    eval: list[dict[str, Any]] = field(default_factory=list)
    """One entry per task: `seqtune generate` options (task, data, variants, limit, task_options ...)."""
    generate: dict[str, Any] = field(default_factory=dict)
    """`seqtune generate` options shared by every task (batch_size, max_new_tokens ...)."""
    score: dict[str, Any] = field(default_factory=dict)
    """`seqtune score` options (thresholds, bertscore ...)."""
    judge: dict[str, Any] = field(default_factory=dict)
    """`seqtune judge` options for the judge model (backend, model, base_url ...): every arm's `seqeval` responses are
    judged (following, quality) and compared with those of the `baseline` arm (an arm name; default IT when there
    is one) for the SeqEval table. Needs an eval entry with task seqeval."""
    report: dict[str, Any] = field(default_factory=dict)
    """`seqtune report` options (labels, arm_order ...)."""
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    """Stages to run, in pipeline order."""
    force: bool = False
    """Run every stage even when its marker says it is done."""

    def validate(self) -> None:
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown:
            raise ConfigError(f"stages: unknown {unknown}; known: {', '.join(STAGES)}")
        for arm, spec in self.arms.items():
            layout.plain_name(arm, "arms")
            if not isinstance(spec, dict) or not (
                {"data", "model"} & set(spec) or spec.get("untuned") is True
            ):
                raise ConfigError(
                    f"arms.{arm}: give `data` ({' | '.join(DATA_SOURCES)} | a file), `model` or `untuned: true`"
                )
        tasks: dict[str, int] = {}
        for index, entry in enumerate(self.eval):
            if not isinstance(entry, dict) or "task" not in entry:
                raise ConfigError(f"eval[{index}]: each entry needs a `task`")
            task = layout.plain_name(entry["task"], f"eval[{index}].task")
            if task in tasks:
                raise ConfigError(
                    f"eval[{index}]: task '{task}' is already evaluated by eval[{tasks[task]}]; both would write "
                    "one folder"
                )
            tasks[task] = index


@dataclass
class Arm:
    name: str
    model: str
    """What generate loads: the trained model/adapter folder, or the arm's existing model."""
    digest: str
    train: Any = None
    """TrainConfig, or None for an arm that evaluates an existing model."""


@dataclass
class Evaluation:
    arm: str
    folder: Path
    generate: Any
    score: Any
    digest: str


@dataclass
class Plan:
    layout: RunLayout
    augment: Any
    """AugmentConfig, or None when no arm trains on augmented data."""
    augment_digest: str | None
    seqinstruct: Any
    """SeqInstructConfig, or None when no arm trains on Seq-Instruct data."""
    seqinstruct_digest: str | None
    arms: list[Arm]
    tiny_base: Any
    """The TrainConfig whose tiny model all arms share (None unless `model` is `tiny` or `tiny-instructblip`)."""
    base_digest: str | None
    evaluations: list[Evaluation]
    judge: Any
    """JudgeConfig, or None when the run has no judge section."""
    judge_digest: str | None
    report: Any
    hashes: HashCache
    """The input hashes computed while planning (saved once the run holds its folder)."""


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _with_preset(section: dict[str, Any]) -> dict[str, Any]:
    """A `preset: FILE.yaml` key loads that stage config first; the section's other keys override it."""
    section = dict(section)
    preset = section.pop("preset", None)
    return {**load_yaml(preset), **section} if preset else section


def _named_paths(values: Any) -> list[Path]:
    """Every existing file or folder named by a string in a stage config (outputs and caches left out)."""
    found: list[Path] = []
    pending: list[tuple[str, Any]] = [("", values)]
    while pending:
        key, value = pending.pop()
        if key in _OUTPUT_KEYS or "cache" in key:
            continue
        if isinstance(value, dict):
            pending.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((key, item) for item in value)
        elif isinstance(value, str) and _exists(value):
            found.append(Path(value))
    return sorted(set(found))


def _exists(text: str) -> bool:
    """Whether `text` names an existing file or folder; a prompt or any other long text is simply not one."""
    try:
        return bool(text) and "\0" not in text and Path(text).exists()
    except OSError:  # e.g. a name too long for the file system
        return False


def _input_digest(values: Any, run: RunLayout, hashes: HashCache) -> dict[str, str]:
    """Content hashes of the inputs a stage config names outside the run folder (inside it, a file is an
    earlier stage's output, whose digest the stage's digest already holds)."""
    root = run.root.resolve()
    return {
        str(path): hashes.content(path)
        for path in _named_paths(values)
        if not path.resolve().is_relative_to(root)
    }


def plan_run(config: RunConfig) -> Plan:
    """Every stage's config, built and validated, and every name checked; nothing is run, loaded or written."""
    from seqtune.augment.config import AugmentConfig
    from seqtune.generate.config import GenerateConfig
    from seqtune.report.config import ReportConfig
    from seqtune.score import ScoreConfig
    from seqtune.seqinstruct.config import SeqInstructConfig
    from seqtune.train.config import TrainConfig

    run = RunLayout(Path(config.output_dir))
    hashes = HashCache(run.hash_cache)
    _refuse_inputs_inside(config, run)
    data_files = {
        "original": run.original,
        "augmented": run.augmented,
        "seqinstruct": run.seqinstruct_data,
        "seqinstruct-it": run.seqinstruct_control,
    }
    trained = {name: spec for name, spec in config.arms.items() if "data" in spec and "model" not in spec}
    sources = {spec["data"] for spec in trained.values()}
    augment = augment_digest = None
    if config.augment or sources & {"original", "augmented"}:
        augment = build(
            AugmentConfig,
            {"seed": config.seed, **config.augment, "output": str(run.augmented)},
            context="augment",
        )
        augment_digest = _hash(to_dict(augment), _input_digest(to_dict(augment), run, hashes))
    seqinstruct = seqinstruct_digest = None
    if config.seqinstruct or sources & {"seqinstruct", "seqinstruct-it"}:
        seqinstruct = build(
            SeqInstructConfig,
            {
                "seed": config.seed,
                **config.seqinstruct,
                "output": str(run.seqinstruct_data),
                # the IT control costs a response per instruction: asked for only when an arm trains on it
                "it_output": str(run.seqinstruct_control) if "seqinstruct-it" in sources else "",
            },
            context="seqinstruct",
        )
        seqinstruct_digest = _hash(to_dict(seqinstruct), _input_digest(to_dict(seqinstruct), run, hashes))
    data_digest = _hash(augment_digest, seqinstruct_digest)
    shared_train = {"seed": config.seed, **_with_preset(config.train)}
    tiny_base = base_digest = None
    if trained and shared_train.get("model", "tiny") in TINY_FAMILIES:
        # one tiny model, its tokenizer trained on the training text, so that the arms differ only in data: the
        # augmented data (which holds the originals), else the Seq-Instruct data, else the first arm's own file
        first = next(iter(trained.values()))["data"]
        first_arm_data = data_files.get(first, first)
        text = run.augmented if augment else run.seqinstruct_data if seqinstruct else first_arm_data
        values = {**shared_train, "data": str(text), "output_dir": str(run.base_model)}
        tiny_base = build(TrainConfig, values, context="train")
        base_digest = _hash(to_dict(tiny_base), data_digest, _input_digest(values, run, hashes))
        shared_train["model"] = str(run.base_model)

    arms = []
    for name, spec in config.arms.items():
        if "model" in spec:
            arms.append(Arm(name, str(spec["model"]), _hash(spec["model"], _input_digest(spec, run, hashes))))
            continue
        if "data" not in spec:  # untuned: the trained arms' base model
            base = shared_train.get("model", "tiny")
            if base in TINY_FAMILIES:
                raise ConfigError(f"arms.{name}: `untuned` needs an arm that trains on the tiny base model")
            digest = base_digest or _hash(base, _input_digest({"model": base}, run, hashes))
            arms.append(Arm(name, str(base), digest))
            continue
        values = {**shared_train, **spec.get("train", {})}
        values.update(data=str(data_files.get(spec["data"], spec["data"])), output_dir=str(run.train(name)))
        train = build(TrainConfig, values, context=f"arms.{name}.train")
        digest = _hash(to_dict(train), data_digest, base_digest, _input_digest(values, run, hashes))
        arms.append(Arm(name, str(run.model(name)), digest, train))

    evaluations = []
    generates: dict[int, Any] = {}  # eval entry → its generate config (the same for every arm but the model)
    for arm in arms:
        for index, entry in enumerate(config.eval):
            folder = run.evaluation(arm.name, entry["task"])
            generate = build(
                GenerateConfig,
                {**config.generate, **entry, "model": arm.model, "output": str(folder)},
                context=f"eval {entry['task']}",
            )
            generates[index] = generate
            score = build(
                ScoreConfig,
                {**config.score, "predictions": [str(folder / layout.PREDICTIONS)], "output": str(folder)},
                context="score",
            )
            digest = _hash(to_dict(generate), arm.digest, _input_digest(to_dict(generate), run, hashes))
            evaluations.append(Evaluation(arm.name, folder, generate, score, digest))

    judge, judge_digest, baseline = _plan_judge(config, arms, evaluations, run, hashes)
    labels = {arm.model: arm.name for arm in arms}
    roles = config.report.get("arm_roles", {})
    report = build(
        ReportConfig,
        {
            "arm_order": [arm.name for arm in arms],
            **config.report,
            # the SeqEval win rates are against the arm the judge compared with
            "arm_roles": {**({"seqeval_baseline": [baseline]} if baseline else {}), **roles},
            "labels": {**labels, **config.report.get("labels", {})},
            "runs": [str(run.evaluations), *([str(run.judge)] if judge is not None else [])],
            "output": str(run.report),
        },
        context="report",
    )
    _check_names(augment, generates)
    return Plan(
        run,
        augment,
        augment_digest,
        seqinstruct,
        seqinstruct_digest,
        arms,
        tiny_base,
        base_digest,
        evaluations,
        judge,
        judge_digest,
        report,
        hashes,
    )


def _plan_judge(
    config: RunConfig, arms: list[Arm], evaluations: list[Evaluation], run: RunLayout, hashes: HashCache
) -> tuple[Any, str | None, str]:
    """The judge stage's config and digest, and the arm it compares the others with ("" for none): each arm's
    seqeval predictions against the baseline arm's."""
    from seqtune.judge.config import JudgeConfig

    if not config.judge:
        return None, None, ""
    judged = {e.arm: e for e in evaluations if e.generate.task == "seqeval"}
    if not judged:
        raise ConfigError("judge: needs an eval entry with task seqeval (the responses it judges)")
    values = dict(config.judge)
    names = [arm.name for arm in arms]
    baseline = values.pop("baseline", "IT" if "IT" in names else "")
    if baseline and baseline not in judged:
        raise ConfigError(f"judge.baseline: '{baseline}' is not an arm of the run ({', '.join(names)})")
    folders = [str(e.folder) for arm, e in judged.items() if arm != baseline] or [
        str(judged[baseline].folder)
    ]
    judge = build(
        JudgeConfig,
        {
            **values,
            "predictions": folders,
            "baseline": str(judged[baseline].folder) if baseline else "",
            "output": str(run.judge),
        },
        context="judge",
    )
    inputs = _input_digest(to_dict(judge), run, hashes)  # the judge prompt files' content
    return judge, _hash(to_dict(judge), inputs, sorted(e.digest for e in judged.values())), baseline


def _refuse_inputs_inside(config: RunConfig, run: RunLayout) -> None:
    """An input inside the run folder could be overwritten or deleted by the run (e.g. `augment/data.jsonl`)."""
    sections = [
        config.augment,
        config.seqinstruct,
        config.train,
        config.arms,
        config.eval,
        config.generate,
        config.score,
        config.judge,
    ]
    inputs = [path for section in sections for path in _named_paths(section)]
    if run.root.exists():
        layout.refuse_output_that_is_input(run.root, inputs, folder=True)


def _check_names(augment: Any, generates: dict[int, Any]) -> None:
    """Steps, tasks, their options (languages) and variants exist: checked before the first stage starts."""
    from seqtune.steps.base import STEPS
    from seqtune.tasks.base import TASKS

    if augment is not None:
        for key in ("steps", "parallel_steps"):
            unknown = [step for step in getattr(augment, key) if step not in STEPS.names()]
            if unknown:
                raise ConfigError(
                    f"augment.{key}: unknown step(s) {', '.join(unknown)}; known: {', '.join(STEPS.names())}"
                )
    for index, generate in generates.items():
        try:
            task = TASKS.get(generate.task)()
        except ConfigError as error:
            raise ConfigError(f"eval[{index}].task: {error}") from None
        try:
            task.check_options(generate.task_options)
        except ConfigError as error:
            raise ConfigError(f"eval[{index}].task_options: {error}") from None
        known = task.variant_names()
        unknown = [variant for variant in generate.variants if variant not in known]
        if unknown:
            raise ConfigError(
                f"eval[{index}].variants: task '{generate.task}' has no variant(s) {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )


def _check_inputs_exist(config: RunConfig) -> None:
    """Files the run reads but no stage of it writes exist: checked when it starts, not when it plans (a
    shipped config may name data made beforehand by another command)."""
    for name, spec in config.arms.items():
        data = spec.get("data")
        if data is not None and data not in DATA_SOURCES and not _exists(str(data)):
            raise ConfigError(
                f"arms.{name}.data: no such file: {data} (nor one of {', '.join(DATA_SOURCES)})"
            )
    for index, entry in enumerate(config.eval):
        data = entry.get("data")
        if isinstance(data, str) and looks_like_path(data) and not _exists(data):
            raise ConfigError(f"eval[{index}].data: no such file or folder: {data}")


class Stage:
    """A unit of work with a done-marker: skipped when its marker holds the same hash."""

    def __init__(self, folder: Path, digest: str | None, force: bool):
        self.folder, self.digest, self.force = folder, digest, force

    def done(self) -> bool:
        return not self.force and _marker_hash(self.folder / layout.STAGE_DONE) == self.digest

    def mark_done(self) -> None:
        write_json(
            self.folder / layout.STAGE_DONE,
            {"hash": self.digest, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")},
        )

    def started(self) -> bool:
        """Whether an earlier attempt of this very config began here (and may have left checkpoints)."""
        return _marker_hash(self.folder / layout.STAGE_STARTED) == self.digest

    def mark_started(self) -> None:
        write_json(self.folder / layout.STAGE_STARTED, {"hash": self.digest})


def _marker_hash(path: Path) -> str | None:
    """The hash in a stage marker; a missing or damaged marker (a kill while writing it) means not done."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("hash")
    except (OSError, ValueError, AttributeError):
        return None


def run_pipeline(config: RunConfig) -> Path:
    plan = plan_run(config)
    run = plan.layout
    _check_inputs_exist(config)
    check_writable_folder(run.root)
    layout.claim(run.root, created_by="seqtune run")
    with layout.locked(run.root, f"seqtune run {config.name}"):
        for leftover in remove_stale_temporaries(run.root):
            log.info("removed %s, left by an interrupted write", leftover)
        plan.hashes.save()
        _run_stages(plan, config)
    return run.root


def _run_stages(plan: Plan, config: RunConfig) -> None:
    run = plan.layout
    wanted = set(config.stages)
    started = time.time()

    augment = Stage(run.augment, plan.augment_digest, config.force)
    if plan.augment is not None and "augment" in wanted and not augment.done():
        from seqtune.augment.pipeline import run_augment

        log.info("== augment")
        layout.claim(run.augment, created_by="seqtune run: augment")
        run_augment(plan.augment)
        _write_originals(Path(plan.augment.output), run.original)
        augment.mark_done()

    if plan.seqinstruct is not None and "seqinstruct" in wanted:
        from seqtune.seqinstruct.pipeline import run_seqinstruct

        stage = (run.seqinstruct, plan.seqinstruct_digest, config.force)
        _model_calling_stage("seqinstruct", *stage, lambda: run_seqinstruct(plan.seqinstruct))

    if "train" in wanted:
        _train(plan, config.force)

    for evaluation in plan.evaluations:
        generate = Stage(evaluation.folder, evaluation.digest, config.force)
        if "generate" in wanted and not generate.done():
            from seqtune.generate.pipeline import run_generate

            log.info("== generate %s / %s", evaluation.arm, evaluation.generate.task)
            layout.claim(evaluation.folder, created_by="seqtune run: generate")
            run_generate(evaluation.generate)
            generate.mark_done()
        if "score" in wanted:
            from seqtune.score import run_score

            log.info("== score %s / %s", evaluation.arm, evaluation.generate.task)
            run_score(evaluation.score)

    if plan.judge is not None and "judge" in wanted:
        from seqtune.judge.pipeline import run_judge

        stage = (run.judge, plan.judge_digest, config.force)
        _model_calling_stage("judge", *stage, lambda: run_judge(plan.judge))

    if "report" in wanted and plan.evaluations:
        from seqtune.report.pipeline import run_report

        log.info("== report")
        layout.claim(run.report, created_by="seqtune run: report")
        report = run_report(plan.report)
        _print_headline(report)
    log.info("run '%s' finished in %.0f s: %s", config.name, time.time() - started, run.root)


def _model_calling_stage(
    name: str, folder: Path, digest: str | None, force: bool, work: Callable[[], Any]
) -> None:
    """Run `work` (a stage writing `folder`) unless its marker says it is done; an attempt that was killed resumes
    from the stage's own answer cache, so no model call is repeated."""
    stage = Stage(folder, digest, force)
    if stage.done():
        return
    log.info("== %s", name)
    layout.claim(folder, created_by=f"seqtune run: {name}")
    work()
    stage.mark_done()


def _write_originals(augmented: Path, target: Path) -> None:
    """The IT baseline trains on exactly the original records that the SIT data also contains."""
    write_jsonl(
        target, (record for _, record in iter_json_records(augmented) if record.get("kind") == "original")
    )


def _build_tiny_base(config: Any, folder: Path) -> None:
    """The shared tiny model of the config's family: a tiny Llama, or a tiny InstructBLIP (each the one its family
    builds for a single run)."""
    from seqtune.train import instructblip, pipeline

    builder = instructblip.build_tiny_base if config.family() == "instructblip" else pipeline.build_tiny_base
    builder(config, folder)


def _train(plan: Plan, force: bool) -> None:
    from seqtune.train.pipeline import run_train

    run = plan.layout
    if plan.tiny_base is not None:
        base = Stage(run.base_model, plan.base_digest, force)
        if not base.done():
            log.info("== tiny base model")
            if run.base_model.exists() and not layout.owned(run.base_model):
                raise SeqtuneError(
                    f"{run.base_model}: not created by seqtune; move it away (nothing was changed)"
                )
            try:
                _build_tiny_base(plan.tiny_base, base.folder)
            finally:
                # the builder assembles the model in a staging folder beside it; a failure leaves that behind
                layout.remove_staging_folders(run.base_model)
            layout.mark_owned(run.base_model, created_by="seqtune run: tiny base model")
            base.mark_done()
    for arm in plan.arms:
        if arm.train is None:
            continue
        stage = Stage(run.train(arm.name), arm.digest, force)
        if stage.done():
            continue
        log.info("== train %s", arm.name)
        layout.claim(stage.folder, created_by="seqtune run: train")
        # a half-finished run of the same config continues from its last checkpoint; checkpoints of another
        # config are stale and must not be resumed
        arm.train.resume = stage.started()
        checkpoints = run.checkpoints(arm.name)
        if not arm.train.resume and checkpoints.exists():
            log.warning("removing checkpoints of a different config in %s", stage.folder)
            layout.remove_owned(checkpoints, owner=stage.folder)
        stage.mark_started()
        try:
            run_train(arm.train)
        except BaseException:
            # an empty checkpoints/ is all a failure before the first save leaves; a non-empty one is kept to resume
            if checkpoints.is_dir() and not any(checkpoints.iterdir()):
                checkpoints.rmdir()
            raise
        stage.mark_done()


def _print_headline(report: Path) -> None:
    """The main table on stdout, so a run ends with its result rather than a path alone."""
    table = next(
        (report.parent / name for name in layout.HEADLINE_TABLES if (report.parent / name).is_file()), None
    )
    if table is not None:
        print(table.read_text(encoding="utf-8").rstrip())
    print(f"\nfull report: {report}")
