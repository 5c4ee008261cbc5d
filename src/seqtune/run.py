"""`seqtune run CONFIG.yaml`: augment → train (one model per arm) → generate → score → report in one folder.

Layout of a run folder:
    augment/data.jsonl        sequential + original records (the SIT training data)
    augment/original.jsonl    the original records only (the IT baseline's training data)
    base_model/               for `model: tiny`: one tiny model shared by every arm, so arms differ only in data
    train/<arm>/              one training run per arm (model/, checkpoints/, manifest.json ...)
    eval/<arm>/<task>/        predictions.jsonl, scores.jsonl, summary.json
    report/                   tables, figures, report.md

Every stage config is built and validated before anything runs, so a typo fails in a second, not after training.
Each finished stage leaves `.seqtune-stage.json` holding a hash of its resolved config and of the stages it
depends on. A stage whose marker matches is skipped, so an interrupted run resumes where it stopped (and the
interrupted stage resumes on its own: training from its last checkpoint, generation from its saved responses).
Scoring is cheap and deterministic, so it is always recomputed from the saved predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqtune.config import build, load_yaml, to_dict
from seqtune.errors import ConfigError
from seqtune.records import iter_json_records, write_json, write_jsonl

log = logging.getLogger(__name__)

STAGES = ("augment", "train", "generate", "score", "report")
MARKER = ".seqtune-stage.json"
STARTED = ".seqtune-stage-started.json"


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
    arms: dict[str, Any] = field(
        default_factory=lambda: {"IT": {"data": "original"}, "SIT": {"data": "augmented"}}
    )
    """Models to compare. Each arm: `data` (original | augmented | a file) and optional `train` overrides; or
    `model` (a hub id or folder) to evaluate an existing model without training."""
    train: dict[str, Any] = field(default_factory=dict)
    """`seqtune train` options shared by every arm (`preset: FILE.yaml` loads a preset under them); `data` and
    `output_dir` are set by the run."""
    eval: list[dict[str, Any]] = field(default_factory=list)
    """One entry per task: `seqtune generate` options (task, data, variants, limit, task_options ...)."""
    generate: dict[str, Any] = field(default_factory=dict)
    """`seqtune generate` options shared by every task (batch_size, max_new_tokens ...)."""
    score: dict[str, Any] = field(default_factory=dict)
    """`seqtune score` options (thresholds, bertscore ...)."""
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
            if not isinstance(spec, dict) or not ({"data", "model"} & set(spec)):
                raise ConfigError(f"arms.{arm}: give `data` (original | augmented | a file) or `model`")
        for index, entry in enumerate(self.eval):
            if not isinstance(entry, dict) or "task" not in entry:
                raise ConfigError(f"eval[{index}]: each entry needs a `task`")


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
    augment: Any
    """AugmentConfig, or None when no arm trains on augmented data."""
    augment_digest: str | None
    arms: list[Arm]
    tiny_base: Any
    """The TrainConfig whose tiny model all arms share (None unless `model: tiny`)."""
    evaluations: list[Evaluation]
    report: Any


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _with_preset(section: dict[str, Any]) -> dict[str, Any]:
    """A `preset: FILE.yaml` key loads that stage config first; the section's other keys override it."""
    section = dict(section)
    preset = section.pop("preset", None)
    return {**load_yaml(preset), **section} if preset else section


def plan_run(config: RunConfig) -> Plan:
    """Every stage's config, built and validated; nothing is run or loaded."""
    from seqtune.augment.config import AugmentConfig
    from seqtune.generate.config import GenerateConfig
    from seqtune.report.config import ReportConfig
    from seqtune.score import ScoreConfig
    from seqtune.train.config import TrainConfig

    root = Path(config.output_dir)
    data_files = {
        "original": root / "augment" / "original.jsonl",
        "augmented": root / "augment" / "data.jsonl",
    }
    trained = {name: spec for name, spec in config.arms.items() if "model" not in spec}
    augment = augment_digest = None
    if config.augment or any(spec["data"] in data_files for spec in trained.values()):
        augment = build(
            AugmentConfig,
            {"seed": config.seed, **config.augment, "output": str(data_files["augmented"])},
            context="augment",
        )
        augment_digest = _hash(to_dict(augment))
    shared_train = {"seed": config.seed, **_with_preset(config.train)}
    tiny_base = None
    if trained and shared_train.get("model", "tiny") == "tiny":
        # one tiny model, its tokenizer trained on all the training text, so that the arms differ only in data
        values = {
            **shared_train,
            "data": str(data_files["augmented"]),
            "output_dir": str(root / "base_model"),
        }
        tiny_base = build(TrainConfig, values, context="train")
        shared_train["model"] = str(root / "base_model")

    arms = []
    for name, spec in config.arms.items():
        if "model" in spec:
            arms.append(Arm(name, str(spec["model"]), _hash(spec["model"])))
            continue
        folder = root / "train" / name
        values = {**shared_train, **spec.get("train", {})}
        values.update(data=str(data_files.get(spec["data"], spec["data"])), output_dir=str(folder))
        train = build(TrainConfig, values, context=f"arms.{name}.train")
        arms.append(Arm(name, str(folder / "model"), _hash(to_dict(train), augment_digest), train))

    evaluations = []
    for arm in arms:
        for entry in config.eval:
            folder = root / "eval" / arm.name / str(entry["task"])
            generate = build(
                GenerateConfig,
                {**config.generate, **entry, "model": arm.model, "output": str(folder)},
                context=f"eval {entry['task']}",
            )
            score = build(
                ScoreConfig,
                {**config.score, "predictions": [str(folder / "predictions.jsonl")], "output": str(folder)},
                context="score",
            )
            evaluations.append(
                Evaluation(arm.name, folder, generate, score, _hash(to_dict(generate), arm.digest))
            )

    labels = {arm.model: arm.name for arm in arms}
    report = build(
        ReportConfig,
        {
            "arm_order": [arm.name for arm in arms],
            **config.report,
            "labels": {**labels, **config.report.get("labels", {})},
            "runs": [str(root / "eval")],
            "output": str(root / "report"),
        },
        context="report",
    )
    return Plan(augment, augment_digest, arms, tiny_base, evaluations, report)


class Stage:
    """A unit of work with a done-marker: skipped when its marker holds the same hash."""

    def __init__(self, folder: Path, digest: str, force: bool):
        self.folder, self.digest, self.force = folder, digest, force

    def done(self) -> bool:
        marker = self.folder / MARKER
        if self.force or not marker.is_file():
            return False
        return json.loads(marker.read_text(encoding="utf-8")).get("hash") == self.digest

    def mark_done(self) -> None:
        write_json(
            self.folder / MARKER, {"hash": self.digest, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        )

    def started(self) -> bool:
        """Whether an earlier attempt of this very config began here (and may have left checkpoints)."""
        marker = self.folder / STARTED
        return marker.is_file() and json.loads(marker.read_text(encoding="utf-8")).get("hash") == self.digest

    def mark_started(self) -> None:
        write_json(self.folder / STARTED, {"hash": self.digest})


def run_pipeline(config: RunConfig) -> Path:
    plan = plan_run(config)
    root = Path(config.output_dir)
    wanted = set(config.stages)
    started = time.time()

    augment = Stage(root / "augment", plan.augment_digest, config.force)
    if plan.augment is not None and "augment" in wanted and not augment.done():
        from seqtune.augment.pipeline import run_augment

        log.info("== augment")
        run_augment(plan.augment)
        _write_originals(Path(plan.augment.output), root / "augment" / "original.jsonl")
        augment.mark_done()

    if "train" in wanted:
        _train(plan, root, config.force)

    for evaluation in plan.evaluations:
        generate = Stage(evaluation.folder, evaluation.digest, config.force)
        if "generate" in wanted and not generate.done():
            from seqtune.generate.pipeline import run_generate

            log.info("== generate %s / %s", evaluation.arm, evaluation.generate.task)
            run_generate(evaluation.generate)
            generate.mark_done()
        if "score" in wanted:
            from seqtune.score import run_score

            log.info("== score %s / %s", evaluation.arm, evaluation.generate.task)
            run_score(evaluation.score)

    if "report" in wanted and plan.evaluations:
        from seqtune.report.pipeline import run_report

        log.info("== report")
        report = run_report(plan.report)
        _print_headline(report)
    log.info("run '%s' finished in %.0f s: %s", config.name, time.time() - started, root)
    return root


def _write_originals(augmented: Path, target: Path) -> None:
    """The IT baseline trains on exactly the original records that the SIT data also contains."""
    write_jsonl(
        target, (record for _, record in iter_json_records(augmented) if record.get("kind") == "original")
    )


def _train(plan: Plan, root: Path, force: bool) -> None:
    from seqtune.train.pipeline import build_tiny_base, run_train

    if plan.tiny_base is not None:
        base = Stage(root / "base_model", _hash(to_dict(plan.tiny_base), plan.augment_digest), force)
        if not base.done():
            log.info("== tiny base model")
            build_tiny_base(plan.tiny_base, base.folder)
            base.mark_done()
    for arm in plan.arms:
        if arm.train is None:
            continue
        stage = Stage(Path(arm.train.output_dir), arm.digest, force)
        if stage.done():
            continue
        log.info("== train %s", arm.name)
        # a half-finished run of the same config continues from its last checkpoint; checkpoints of another
        # config are stale and must not be resumed
        arm.train.resume = stage.started()
        if not arm.train.resume and (stage.folder / "checkpoints").is_dir():
            log.warning("removing checkpoints of a different config in %s", stage.folder)
            shutil.rmtree(stage.folder / "checkpoints")
        stage.mark_started()
        run_train(arm.train)
        stage.mark_done()


def _print_headline(report: Path) -> None:
    """The main table (Table 2) on stdout, so a run ends with its result rather than a path alone."""
    table = report.parent / "table2.md"
    if table.is_file():
        print(table.read_text(encoding="utf-8").rstrip())
    print(f"\nfull report: {report}")
