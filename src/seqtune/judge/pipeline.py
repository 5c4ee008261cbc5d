"""`seqtune judge`: an LLM judges saved responses, one by one and in pairs (SeqEval; docs/seqeval.md).

Per response: did it attempt every sub-task of the instruction (following), and a 1–5 quality score. Pairwise:
every arm in `predictions` against the `baseline` arm on the same prompts (task, variant and id), each pair judged
in both orders (A shown first, then B shown first) so that a judge's preference for a position cancels out. A pair
is a win only when both orders prefer A, a loss only when both prefer B, and a tie otherwise (both say tie, or the
orders disagree); win rate = (wins + 0.5 · ties) / pairs with a valid verdict in both orders.

Every request goes through the language-model layer (`seqtune.lm`): answers are cached in OUTPUT/judge_cache.sqlite
as they arrive, so a killed run resumes without asking twice, and a re-run gives the same bytes. A reply whose
verdict cannot be read is an invalid judgment, counted by reason (seqtune.judge.verdicts), never a default.
Outputs, written atomically into `output`: judgments.jsonl (one record per judgment, with the judge's reply),
judge_summary.json and judgments.jsonl.manifest.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from seqtune import layout
from seqtune.config import to_dict
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.judge.config import JudgeConfig
from seqtune.judge.verdicts import FIRST, SECOND, TIE, parse_pair, parse_single
from seqtune.layout import JUDGE_FOLDER, JUDGE_SUMMARY, JUDGMENTS
from seqtune.lm.base import Completion, Decoding, Request
from seqtune.lm.settings import build_lm
from seqtune.manifest import write_manifest
from seqtune.records import ErrorPolicy, iter_json_records, write_json, write_jsonl
from seqtune.templates import fill

log = logging.getLogger(__name__)

CACHE = "judge_cache.sqlite"
SINGLE_FIELDS = ("instruction", "response")
PAIR_FIELDS = ("instruction", "first", "second")
RULES = {
    "following_rate": "share of responses the judge says attempt every sub-task of the instruction (each has "
    "its own output, right or wrong), over the responses with a valid judgment",
    "quality": "mean 1-5 quality score over the responses with a valid judgment",
    "win_rate": "(wins + 0.5 * ties) / pairs; each pair judged twice, A shown first and B shown first: a win when "
    "both orders prefer A, a loss when both prefer B, a tie otherwise (both say tie, or the orders disagree); "
    "a pair with an unreadable verdict in either order is invalid and left out of n",
    "invalid": "a judge reply whose verdict cannot be read, counted by reason in invalid_reasons",
}

GroupKey = tuple[str, str, str, str]
"""(model, adapter, task, variant), as `seqtune score` groups predictions."""


@dataclass(frozen=True)
class JudgePrompt:
    """A judge prompt: a system message and a user message with {placeholders} (a JSON data file)."""

    name: str
    system: str
    user: str
    sha256: str

    def request(self, values: dict[str, str], decoding: Decoding) -> Request:
        return Request.chat(self.system, fill(self.user, values), decoding)


def load_prompt(path: str, default: str, placeholders: tuple[str, ...]) -> JudgePrompt:
    """The prompt in `path` (empty = the packaged `default`); it must use every placeholder."""
    where = path or f"seqtune/judge/prompts/{default}"
    try:
        raw = (
            Path(path).read_bytes()
            if path
            else resources.files(__package__).joinpath("prompts", default).read_bytes()
        )
        document = json.loads(raw.decode("utf-8"))
    except OSError as error:
        raise ConfigError(f"{where}: cannot read the judge prompt ({error.strerror or error})") from None
    except ValueError as error:
        raise ConfigError(f"{where}: not a JSON judge prompt ({error})") from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(k), str) for k in ("system", "user")
    ):
        raise ConfigError(f'{where}: a judge prompt is a JSON object with "system" and "user" strings')
    missing = [name for name in placeholders if "{" + name + "}" not in document["user"]]
    if missing:
        raise ConfigError(
            f"{where}: the user message lacks the placeholder(s) {', '.join('{' + m + '}' for m in missing)}"
        )
    name = document.get("name") if isinstance(document.get("name"), str) else Path(where).stem
    return JudgePrompt(name, document["system"], document["user"], hashlib.sha256(raw).hexdigest())


# ---- reading predictions ----


@dataclass
class Arm:
    """One predictions file: its groups (model, adapter, task, variant) → id → prediction, in file order."""

    path: Path
    groups: dict[GroupKey, dict[str, dict]]


def _prediction_file(raw: str) -> Path:
    path = Path(raw)
    path = path / layout.PREDICTIONS if path.is_dir() else path
    if not path.is_file():
        raise SeqtuneError(f"{path}: no such predictions file")
    return path


def _check(prediction: dict, tasks: dict[str, Any], source: str, location: str) -> None:
    from seqtune.tasks import TASKS

    for name in ("id", "task", "variant"):
        if not isinstance(prediction.get(name), str) or not prediction[name]:
            raise RecordError(
                source, location, "missing_field", "missing or not a non-empty string", field=name
            )
    if not isinstance(prediction.get("response"), str):
        raise RecordError(source, location, "missing_field", "missing or not a string", field="response")
    name = prediction["task"]
    if name not in tasks:
        tasks[name] = TASKS.get(name)()
    if not hasattr(tasks[name], "judged_instruction"):
        raise RecordError(
            source,
            location,
            "wrong_task",
            f"task '{name}' has no open-ended instruction to judge",
            field="task",
        )
    problem = tasks[name].check_prediction(prediction)
    if problem:
        raise RecordError(source, location, "wrong_task", problem[1], field=problem[0])


def read_arm(path: Path, tasks: dict[str, Any], policy: ErrorPolicy) -> Arm:
    groups: dict[GroupKey, dict[str, dict]] = defaultdict(dict)
    for location, prediction in iter_json_records(path, policy, types={"meta": dict}):
        try:
            _check(prediction, tasks, str(path), location)
            key = (
                prediction.get("model") or "",
                prediction.get("adapter") or "",
                prediction["task"],
                prediction["variant"],
            )
            if prediction["id"] in groups.get(key, {}):
                raise RecordError(
                    str(path), location, "duplicate", f"id {prediction['id']!r} occurs twice", field="id"
                )
        except RecordError as error:
            policy.handle(error)
            continue
        prediction["instruction"] = tasks[prediction["task"]].judged_instruction(prediction)
        groups[key][prediction["id"]] = prediction
    return Arm(path, dict(groups))


def _refuse_shared_names(arms: dict[Path, Arm]) -> None:
    """Results are kept per (model, adapter, task, variant): two files answering under one name would be mixed."""
    seen: dict[GroupKey, Path] = {}
    for path, arm in arms.items():
        for key in arm.groups:
            if key in seen:
                raise SeqtuneError(
                    f"{path}: model '{key[0]}' already answers {key[2]}/{key[3]} in {seen[key]}; give each arm "
                    "its own model name (e.g. generate's `model=` for a responses file)"
                )
            seen[key] = path


# ---- the judgments ----


def _iteration(prediction: dict) -> int | None:
    return (prediction.get("meta") or {}).get("iteration")


def _who(key: GroupKey) -> dict[str, Any]:
    return {"model": key[0], "adapter": key[1] or None}


@dataclass
class Single:
    key: GroupKey
    prediction: dict

    def record(self, completion: Completion) -> dict:
        verdict = parse_single(completion.text or "")
        reason = _reason(verdict.invalid_reason, completion)
        return {
            "kind": "single",
            "task": self.key[2],
            "variant": self.key[3],
            "id": self.prediction["id"],
            "iteration": _iteration(self.prediction),
            **_who(self.key),
            "following": verdict.following,
            "score": verdict.score,
            "valid": reason is None,
            "invalid_reason": reason,
            "reply": completion.text,
        }


@dataclass
class Pair:
    a: GroupKey
    b: GroupKey
    answer_a: dict
    """A's prediction."""
    answer_b: dict
    """B's prediction."""

    def record(self, a_first: Completion, b_first: Completion) -> dict:
        orders = []
        for shown_first, completion in (("a", a_first), ("b", b_first)):
            verdict = parse_pair(completion.text or "")
            reason = _reason(verdict.invalid_reason, completion)
            other = "b" if shown_first == "a" else "a"
            winner = {FIRST: shown_first, SECOND: other, TIE: TIE}.get(verdict.choice or "")
            orders.append(
                {
                    "first": shown_first,
                    "winner": winner if reason is None else None,
                    "invalid_reason": reason,
                    "reply": completion.text,
                }
            )
        invalid = next((order["invalid_reason"] for order in orders if order["invalid_reason"]), None)
        return {
            "kind": "pairwise",
            "task": self.a[2],
            "variant": self.a[3],
            "id": self.answer_a["id"],
            "iteration": _iteration(self.answer_a),
            "a": _who(self.a),
            "b": _who(self.b),
            "outcome": None if invalid else outcome(orders[0]["winner"], orders[1]["winner"]),
            "invalid_reason": invalid,
            "orders": orders,
        }


def outcome(a_first: str, b_first: str) -> str:
    """A's result from the winners of the two orders: a win or a loss only when both orders agree."""
    if a_first == b_first == "a":
        return "win"
    if a_first == b_first == "b":
        return "loss"
    return "tie"  # both say tie, or the orders disagree (a position preference, not a preference for A or B)


def _reason(invalid: str | None, completion: Completion) -> str | None:
    """A request that failed after its retries is `request_failed`; a reply cut off by the token limit before its
    verdict is counted as truncated, not as unreadable."""
    if not completion.ok:
        return "request_failed"
    if invalid is not None and completion.finish_reason == "length":
        return "truncated_reply"
    return invalid


def _pairs(arms: list[Arm], baseline: Arm) -> tuple[list[Pair], list[dict]]:
    """Every arm's groups against the baseline's groups of the same task and variant, matched by id."""
    pairs: list[Pair] = []
    matches: list[dict] = []
    for arm in arms:
        for a_key, a_group in arm.groups.items():
            for b_key, b_group in baseline.groups.items():
                if a_key[2:] != b_key[2:] or a_key == b_key:
                    continue
                for example_id, answer_a in a_group.items():
                    answer_b = b_group.get(example_id)
                    if answer_b is None:
                        continue
                    if answer_a["instruction"] != answer_b["instruction"]:
                        raise SeqtuneError(
                            f"{arm.path} and {baseline.path}: id {example_id!r} of {a_key[2]}/{a_key[3]} has two "
                            "different instructions; pairs must answer the same prompts"
                        )
                    pairs.append(Pair(a_key, b_key, answer_a, answer_b))
                matches.append(
                    {
                        "a": _who(a_key),
                        "b": _who(b_key),
                        "task": a_key[2],
                        "variant": a_key[3],
                        "a_only": len(set(a_group) - set(b_group)),
                        "b_only": len(set(b_group) - set(a_group)),
                    }
                )
    return pairs, matches


# ---- the summary ----


def _mean(values: list[float]) -> float | None:
    return round(math.fsum(values) / len(values), 6) if values else None


def _single_metrics(records: list[dict]) -> dict[str, Any]:
    valid = [r for r in records if r["valid"]]
    return {
        "n": len(records),
        "judged": len(valid),
        "following_rate": _mean([float(r["following"]) for r in valid]),
        "quality": _mean([r["score"] for r in valid]),
        "invalid_reasons": dict(
            sorted(Counter(r["invalid_reason"] for r in records if not r["valid"]).items())
        ),
    }


def _pair_metrics(records: list[dict]) -> dict[str, Any]:
    counts = Counter(r["outcome"] for r in records if r["outcome"] is not None)
    n = sum(counts.values())
    return {
        "pairs": len(records),
        "n": n,
        "wins": counts["win"],
        "ties": counts["tie"],
        "losses": counts["loss"],
        "win_rate": round((counts["win"] + 0.5 * counts["tie"]) / n, 6) if n else None,
        "invalid_reasons": dict(
            sorted(Counter(r["invalid_reason"] for r in records if r["invalid_reason"]).items())
        ),
    }


def _by_iteration(records: list[dict], metrics) -> dict[str, dict]:
    levels: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        if record["iteration"] is not None:
            levels[record["iteration"]].append(record)
    return {str(level): metrics(items) for level, items in sorted(levels.items())}


def summarize(singles: list[dict], pairs: list[dict], matches: list[dict]) -> tuple[list[dict], list[dict]]:
    by_arm: dict[tuple, list[dict]] = defaultdict(list)
    for record in singles:
        by_arm[(record["model"], record["adapter"] or "", record["task"], record["variant"])].append(record)
    per_response = [
        {
            "model": model,
            "adapter": adapter or None,
            "task": task,
            "variant": variant,
            **_single_metrics(records),
            "by_iteration": _by_iteration(records, _single_metrics),
        }
        for (model, adapter, task, variant), records in by_arm.items()
    ]
    pairwise = []
    for match in matches:  # one entry per (arm A group, baseline group), even when no id matched
        records = [
            r
            for r in pairs
            if (r["a"], r["b"], r["task"], r["variant"])
            == (match["a"], match["b"], match["task"], match["variant"])
        ]
        pairwise.append(
            {
                **match,
                **_pair_metrics(records),
                "by_iteration": _by_iteration(records, _pair_metrics),
            }
        )
    return per_response, pairwise


# ---- the stage ----


def run_judge(config: JudgeConfig) -> Path:
    """Judge the predictions; returns the path of judge_summary.json."""
    paths = [_prediction_file(raw) for raw in config.predictions]
    baseline = _prediction_file(config.baseline).resolve() if config.baseline else None
    # one file given twice (or as the baseline too) is one arm
    files = list(dict.fromkeys([*(path.resolve() for path in paths), *([baseline] if baseline else [])]))
    output = Path(config.output) if config.output else paths[0].parent / JUDGE_FOLDER
    for name in (JUDGMENTS, JUDGE_SUMMARY):
        layout.refuse_output_that_is_input(output / name, files)
    with layout.locked(output, "seqtune judge"):
        return _judge(config, files, baseline, output)


def _judge(config: JudgeConfig, files: list[Path], baseline_path: Path | None, output: Path) -> Path:
    started = time.time()
    single_prompt = load_prompt(config.single_prompt, "single.json", SINGLE_FIELDS)
    pair_prompt = load_prompt(config.pairwise_prompt, "pairwise.json", PAIR_FIELDS)
    policy = ErrorPolicy(config.on_error)
    tasks: dict[str, Any] = {}
    arms = {path: read_arm(path, tasks, policy) for path in files}
    _refuse_shared_names(arms)
    baseline = arms[baseline_path] if baseline_path else None
    decoding = Decoding(
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=config.seed
    )

    singles = [
        Single(key, prediction)
        for arm in (arms.values() if config.per_response else [])
        for key, group in arm.groups.items()
        for prediction in group.values()
    ]
    others = [arm for path, arm in arms.items() if arm is not baseline]
    pairs, matches = _pairs(others, baseline) if baseline is not None else ([], [])
    requests = [
        single_prompt.request(
            {"instruction": s.prediction["instruction"], "response": s.prediction["response"]}, decoding
        )
        for s in singles
    ]
    for pair in pairs:  # both orders, so a preference for a position cancels out
        for first, second in ((pair.answer_a, pair.answer_b), (pair.answer_b, pair.answer_a)):
            values = {
                "instruction": pair.answer_a["instruction"],
                "first": first["response"],
                "second": second["response"],
            }
            requests.append(pair_prompt.request(values, decoding))
    if not requests:
        raise SeqtuneError(
            "judge: nothing to judge" + (" (no prompt of an arm matches the baseline's)" if baseline else "")
        )

    # a judge's empty or cut-off reply is kept (and cached): it is read as an invalid verdict, counted by reason
    lm = build_lm(config, reject_incomplete=False, cache_path=config.cache_path or str(output / CACHE))
    try:
        completions = lm.complete(requests, desc="judge")
        described = lm.describe()
    finally:
        lm.close()
    failures = [c for c in completions if not c.ok]
    if failures:
        # one request that fails every time (a prompt over the context length) must not keep the summary from
        # ever being written: it is an invalid judgment, counted; a re-run asks it again (failures are not cached)
        log.warning(
            "judge (%s): %d of %d request(s) failed (first: %s); counted as request_failed, re-run to ask them "
            "again (answers received are cached)",
            config.model,
            len(failures),
            len(requests),
            failures[0].error,
        )
    single_records = [s.record(c) for s, c in zip(singles, completions[: len(singles)], strict=True)]
    rest = completions[len(singles) :]
    pair_records = [pair.record(rest[2 * i], rest[2 * i + 1]) for i, pair in enumerate(pairs)]
    per_response, pairwise = summarize(single_records, pair_records, matches)

    write_jsonl(output / JUDGMENTS, [*single_records, *pair_records])
    prompts = {
        "single": {"name": single_prompt.name, "sha256": single_prompt.sha256},
        "pairwise": {"name": pair_prompt.name, "sha256": pair_prompt.sha256},
    }
    judge = {
        "backend": config.backend,
        "model": config.model,
        "prompts": prompts,
        "decoding": decoding.to_dict(),
    }
    summary_path = output / JUDGE_SUMMARY
    write_json(
        summary_path, {"judge": judge, "rules": RULES, "per_response": per_response, "pairwise": pairwise}
    )
    counts = {
        "predictions_skipped": dict(sorted(policy.skipped.items())),
        "responses_judged": len(single_records),
        "pairs_judged": len(pair_records),
        "requests": len(requests),
        "invalid_single": sum(not r["valid"] for r in single_records),
        "invalid_pairs": sum(r["invalid_reason"] is not None for r in pair_records),
    }
    prompt_files = [p for p in (config.single_prompt, config.pairwise_prompt) if p]
    write_manifest(
        output / JUDGMENTS,
        stage="judge",
        config=to_dict(config),
        started=started,
        inputs=[*files, *prompt_files],
        seed=config.seed,
        counts=counts,
        extra={**described, "judge": judge},
    )
    log.info("judged %d responses and %d pairs → %s", len(single_records), len(pair_records), summary_path)
    return summary_path
