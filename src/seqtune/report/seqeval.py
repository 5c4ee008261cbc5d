"""The SeqEval table: per arm, the LLM judge's following rate and mean quality and the pairwise win rate against
the IT arm, overall and by iteration level (1–4 rewriting rounds). Read from the judge_summary.json files that
`seqtune judge` writes (seqtune.judge.pipeline) anywhere under the report's runs; docs/seqeval.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqtune.errors import RecordError, SeqtuneError
from seqtune.layout import JUDGE_SUMMARY
from seqtune.records import read_json
from seqtune.report.config import ReportConfig
from seqtune.report.loading import ResultIndex, _check_numbers, display_arm
from seqtune.report.tables import Table

TASK = "seqeval"
LEVELS = ("1", "2", "3", "4")
_NUMBERS = ("n", "judged", "following_rate", "quality", "pairs", "wins", "ties", "losses", "win_rate")


def judge_summaries(runs: list[str]) -> list[Path]:
    """Every judge_summary.json a run argument names or holds (searched recursively), in path order."""
    found: list[Path] = []
    for run in map(Path, runs):
        found += (
            [run]
            if run.is_file() and run.name == JUDGE_SUMMARY
            else sorted(run.rglob(JUDGE_SUMMARY))
            if run.is_dir()
            else []
        )
    return found


def _entries(document: Any, path: Path, part: str) -> list[dict[str, Any]]:
    """The SeqEval entries of `part` (per_response or pairwise) of one summary, checked: a wrong type is an error
    naming the file, never a silent gap."""
    entries = document.get(part) if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise RecordError(str(path), "", "wrong_type", "expected a list of objects", field=part)
    for number, entry in enumerate(entries):
        location = f"{part} entry {number}"
        if not isinstance(entry.get("task"), str):
            raise RecordError(str(path), location, "missing_field", "missing or not a string", field="task")
        _check_numbers({k: entry.get(k) for k in _NUMBERS}, str(path), location, part)
        levels = entry.get("by_iteration", {})
        if not isinstance(levels, dict) or not all(isinstance(block, dict) for block in levels.values()):
            raise RecordError(
                str(path), location, "wrong_type", "expected an object of levels", field="by_iteration"
            )
        for level, block in levels.items():
            _check_numbers(
                {k: block.get(k) for k in _NUMBERS}, str(path), location, f"{part}.by_iteration.{level}"
            )
    return [entry for entry in entries if entry["task"] == TASK]


def _arm(who: Any, labels: dict[str, str], path: Path) -> str:
    if not isinstance(who, dict):
        raise SeqtuneError(f"{path}: a judged arm must be an object with model and adapter")
    return display_arm(who, labels)


def _judge_name(document: dict) -> str:
    judge = document.get("judge") if isinstance(document.get("judge"), dict) else {}
    return f"{judge.get('model', '?')} ({judge.get('backend', '?')})"


def _wtl(entry: dict | None) -> str | None:
    if entry is None or not entry.get("n"):
        return None
    return f"{entry['wins']} / {entry['ties']} / {entry['losses']}"


def _quality(entry: dict | None) -> str | None:
    value = (entry or {}).get("quality")
    return None if value is None else f"{value:.2f}"


def seqeval_table(index: ResultIndex, config: ReportConfig, paths: list[Path]) -> Table:
    """The table from the judge summaries `paths` (judge_summaries of the report's runs)."""
    singles: dict[str, dict] = {}
    wins: dict[tuple[str, str], dict] = {}
    notes: list[str] = []
    judges: set[str] = set()
    for path in paths:
        document = read_json(path)
        entries = _entries(document, path, "per_response")
        pairs = _entries(document, path, "pairwise")
        if entries or pairs:
            judges.add(_judge_name(document))
        for entry in entries:
            arm = _arm(entry, config.labels, path)
            if (
                arm in singles
            ):  # the first summary in path order is shown; a second judging is named, not mixed
                notes.append(f"{arm}: judged again in {path}, not shown")
                continue
            singles[arm] = entry
        for entry in pairs:
            key = (_arm(entry.get("a"), config.labels, path), _arm(entry.get("b"), config.labels, path))
            if key in wins:
                notes.append(f"{key[0]} vs {key[1]}: judged again in {path}, not shown")
                continue
            wins[key] = entry
    judged = set(singles) | {a for a, _ in wins}
    present = [*index.arms, *sorted(judged - set(index.arms))]
    baselines = config.roles()["seqeval_baseline"] or config.roles()["it"]
    it_arm = next((arm for arm in baselines if arm in present), None)
    table = Table(
        "seqeval",
        "SeqEval: LLM-judged following, quality and win rate vs IT",
        f"Judge: {', '.join(sorted(judges)) or '–'}. Following: the judge says every sub-task of the instruction "
        "is attempted; Quality: mean 1–5 score; Win rate vs IT"
        + (f" (`{it_arm}`)" if it_arm else "")
        + ": (wins + ½ ties) / pairs, each pair judged in both orders, orders that disagree count as a tie; "
        "W / T / L: wins / ties / losses. Level: the prompt's iteration level (1–4 rewriting rounds); n: responses "
        "judged (invalid judgments left out, see the notes).",
        ["Arm", "Level", "n", "Following", "Quality", "Win rate vs IT", "W / T / L"],
        key_columns=2,
    )
    if len(judges) > 1:
        notes.append(f"the summaries come from several judges ({', '.join(sorted(judges))}): not comparable")
    if it_arm is None:
        notes.append(f"IT: no arm among {', '.join(baselines)} (see arm_roles)")
    for arm in [a for a in present if a in judged]:
        single, pair = singles.get(arm), wins.get((arm, it_arm)) if it_arm and arm != it_arm else None
        for level in ("all", *LEVELS):
            s = single if level == "all" else (single or {}).get("by_iteration", {}).get(level)
            p = pair if level == "all" else (pair or {}).get("by_iteration", {}).get(level)
            table.rows.append(
                [
                    arm,
                    level,
                    (s or {}).get("judged"),
                    (s or {}).get("following_rate"),
                    _quality(s),
                    (p or {}).get("win_rate"),
                    _wtl(p),
                ]
            )
        for what, entry in (("judgments", single), (f"pairs vs {it_arm}", pair)):
            reasons = (entry or {}).get("invalid_reasons") or {}
            if reasons:
                listed = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
                notes.append(f"{arm}: {sum(reasons.values())} invalid {what} ({listed})")
    table.rows = [row for row in table.rows if any(cell is not None for cell in row[2:])]
    table.notes = notes
    if not table.rows:
        table.missing = f"no `{TASK}` judgments: run `seqtune judge` on the SeqEval predictions"
    return table
