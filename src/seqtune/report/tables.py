"""The SIT paper's tables (1 to 6 and the §5.2 unseen-template analysis), extra views and all results.

Each paper table reproduces the paper's layout one for one; anything the paper does not show (following rates
next to Table 2, "(neg.)" rows, language averages) is a separate table whose key starts with `extra_`.
Cells hold fractions shown as percentages, counts, text, pairs ("Acc / Fol", shown as "61.2 / 30.0" and split
into two CSV columns), or None (no result: "–"). A table with no value at all is returned with no rows and a
`missing` note; a column whose arm is absent gets a note. Which arm fills which column: `ReportConfig.arm_roles`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from seqtune.report.config import ReportConfig
from seqtune.report.loading import ResultIndex, short_name

Number = float | None
Cell = str | int | float | tuple[Number, Number] | None

NEG = "-neg"
UNSEEN = "-unseen"
# Metrics listed first in the all-results table; any other numeric metric follows alphabetically.
LEADING_METRICS = ["accuracy", "following_rate"]
ROLE_NAMES = {
    "it": "IT",
    "sit": "SIT",
    "sit_repeat": "SIT +Repeat",
    "sit_paraphrase": "SIT +Paraphrase",
    "sit2": "SIT-2 (+R+P)",
}
TABLE2_ROLES = ["it", "sit_repeat", "sit_paraphrase"]
TABLE5_ROWS = [
    ("Non-sequential", "plain"),
    ("Repeat", "repeat"),
    ("Paraphrase", "paraphrase"),
]
TABLE5_COLUMNS = [("IT", "it"), ("SIT (+Repeat)", "sit_repeat"), ("SIT (+Paraphrase)", "sit_paraphrase")]
TABLE6_ROWS = [("R+A", "repeat"), ("R+P+A", "repeat_paraphrase"), ("P+R+P+A", "paraphrase_repeat_paraphrase")]
TABLE6_COLUMNS = [("IT", "it"), ("SIT-1 (+R)", "sit_repeat"), ("SIT-2 (+R+P)", "sit2")]
PROBE_TASK, PROBE_VARIANT, PROBE_STEP = "probe", "probe", "repeat"
TABLE4_TASKS = [("VQAv2 (in D)", "vqav2"), ("GQA (out D)", "gqa")]
TABLE4_ROWS = [
    ("prompt", "prompt", "base"),
    ("IT", "it", "it"),
    ("SIT", "sit", "sit"),
    ("SIT (neg.)", "sit_neg", "sit"),
]
"""(Method shown, row key of `table4_variants`, arm role): the base model without tuning, the IT arm, the SIT
arm twice (its own describe-then-answer prompt, then with another image's caption forced)."""
TABLE4_METHODS = [("prompt", "base"), ("IT", "it"), ("SIT", "sit")]


@dataclass
class Table:
    key: str
    title: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    missing: str = ""
    """Why the table has no rows (shown in the report instead of the table)."""
    notes: list[str] = field(default_factory=list)
    """Shown under the table: columns without an arm, results not found."""
    key_columns: int = 1
    """Leading columns that name the row; the others hold values."""
    pair: tuple[str, str] | None = None
    """Value cells are pairs with these names (e.g. Acc, Fol): one markdown cell, two CSV columns."""


def _percent(value: float, digits: int) -> str:
    return f"{100 * value:.{digits}f}"


def _format(cell: Cell, *, digits: int, empty: str) -> str:
    if cell is None:
        return empty
    if isinstance(cell, bool):
        return str(cell).lower()
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return _percent(cell, digits)
    if isinstance(cell, tuple):
        if all(part is None for part in cell):
            return empty
        return " / ".join(_format(part, digits=digits, empty="–") for part in cell)
    return cell


def _escape_markdown(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> str:
    """A GitHub markdown table, percentages with one decimal, '–' for a missing cell."""
    lines = [
        "| " + " | ".join(_escape_markdown(h) for h in table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    for row in table.rows:
        cells = (_escape_markdown(_format(cell, digits=1, empty="–")) for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with the same rows, percentages with two decimals, an empty field for a missing value; a pair
    column becomes two columns ("IT Acc", "IT Fol") so every field holds one number."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = table.key_columns
    if table.pair is None:
        writer.writerow(table.headers)
    else:
        writer.writerow(table.headers[:keys] + [f"{h} {n}" for h in table.headers[keys:] for n in table.pair])
    for row in table.rows:
        if table.pair is None:
            fields = row
        else:
            fields = row[:keys] + [part for cell in row[keys:] for part in (cell or (None, None))]
        writer.writerow([_format(cell, digits=2, empty="") for cell in fields])
    return buffer.getvalue()


# ---- reading cells ----


def _metric(metrics: dict | None, name: str) -> float | None:
    value = (metrics or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mean_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _step_means(metrics: dict | None, name: str, step: str | None = None) -> float | None:
    """A per-step metric ([{step, mean, n}]) as one number: the mean over the steps that have a value (those with
    an expected text), or the value of one named step."""
    entries = (metrics or {}).get(name)
    if not isinstance(entries, list):
        return None
    chosen = [e for e in entries if isinstance(e, dict) and (step is None or e.get("step") == step)]
    return _mean_present([_metric(entry, "mean") for entry in chosen])


def _has_value(row: list[Cell], keys: int) -> bool:
    return any(cell is not None and cell != (None, None) for cell in row[keys:])


def _accuracy(index: ResultIndex, arm: str | None, task: str, variant: str) -> float | None:
    return None if arm is None else _metric(index.metrics(arm, task, variant), "accuracy")


def _acc_fol(index: ResultIndex, arm: str | None, task: str, variant: str) -> Cell:
    if arm is None:
        return None
    metrics = index.metrics(arm, task, variant)
    return (_metric(metrics, "accuracy"), _metric(metrics, "following_rate"))


def resolve_roles(
    index: ResultIndex, config: ReportConfig, tasks: tuple[str, ...] = ()
) -> dict[str, str | None]:
    """Each role's arm: the first of its candidate labels that names an arm with results (with `tasks`: with
    results for one of them, so that a report over text and VQA runs fills each table from its own arms)."""
    present = {r.arm for r in index.results if not tasks or r.task in tasks}
    return {
        role: next((arm for arm in candidates if arm in present), None)
        for role, candidates in config.roles().items()
    }


def _arms_caption(columns: list[tuple[str, str]], arms: dict[str, str | None]) -> str:
    named = [f"{name} = `{arms[role]}`" for name, role in columns if arms[role] is not None]
    return f"Arms: {', '.join(named)}." if named else ""


def _missing_arm_notes(
    columns: list[tuple[str, str]], arms: dict[str, str | None], config: ReportConfig
) -> list[str]:
    roles = config.roles()
    return [
        f"{name}: no arm with results among {', '.join(roles[role]) or 'no candidates'} (see arm_roles)"
        for name, role in columns
        if arms[role] is None
    ]


def _finish(table: Table, missing: str) -> Table:
    """Drop rows without any value; a table left empty says why."""
    table.rows = [row for row in table.rows if _has_value(row, table.key_columns)]
    if not table.rows:
        table.missing = "; ".join([missing, *table.notes])
    return table


# ---- Table 1: probe of off-the-shelf models ----


def table1(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, (PROBE_TASK,))
    # the training roles name a Method; Table 4's base (untuned) role does not
    role_of = {
        arm: ROLE_NAMES[role]
        for role, arm in reversed(arms.items())
        if arm is not None and role in ROLE_NAMES
    }
    table = Table(
        "table1",
        "Table 1: probe of off-the-shelf models",
        'Prompt: "Please repeat the input and then answer the question in the input." (CommonsenseQA). '
        'R-L / B-S: ROUGE-L / BERTScore of the repetition against the input ("–" when not computed). '
        "Following: share of responses that repeat the input (R), that commit to exactly one answer, right or "
        "wrong (A), and that do both (R+A).",
        ["Method", "Model", "R-L", "B-S", "Following R", "A", "R+A"],
        key_columns=2,
    )
    for arm in index.arms:
        metrics = index.metrics(arm, PROBE_TASK, PROBE_VARIANT)
        if metrics is None:
            continue
        table.rows.append(
            [
                config.methods.get(arm) or role_of.get(arm),
                arm,
                _step_means(metrics, "rouge_l", PROBE_STEP),
                _step_means(metrics, "bertscore", PROBE_STEP),
                *(_metric(metrics, name) for name in ("repeated", "answered", "repeated_and_answered")),
            ]
        )
    return _finish(table, f"no scored `{PROBE_TASK}/{PROBE_VARIANT}` results")


# ---- Table 2: CommonsenseQA, IT vs SIT +Repeat vs SIT +Paraphrase per base model ----


def _table2_rows(index: ResultIndex, config: ReportConfig) -> dict[str, dict[str, str | None]]:
    """Row name → {role: arm}: the configured rows, else one row named after the arms' base model."""
    if config.table2_rows:
        present = set(index.arms)
        return {
            row: {role: cells.get(role) if cells.get(role) in present else None for role in TABLE2_ROLES}
            for row, cells in config.table2_rows.items()
        }
    arms = resolve_roles(index, config, (config.analysis_task,))
    row = {role: arms[role] for role in TABLE2_ROLES}
    bases = {
        short_name(result.summary.get("model"))
        for result in index.results
        if result.arm in row.values() and result.summary.get("adapter")
    }
    return {bases.pop() if len(bases) == 1 else "all arms": row}


def _table2_caption(config: ReportConfig, columns: list[tuple[str, str]]) -> str:
    prompts = ", ".join(f"{name} on `{config.table2_variant(role)}`" for name, role in columns)
    return (
        f"CommonsenseQA ({config.analysis_task}) accuracy. Prompt variant of each column: {prompts} — each SIT "
        "arm is prompted with its own intermediate task."
    )


def table2(index: ResultIndex, config: ReportConfig) -> Table:
    columns = [(ROLE_NAMES[role], role) for role in TABLE2_ROLES]
    rows = _table2_rows(index, config)
    table = Table(
        "table2",
        "Table 2: CommonsenseQA",
        _table2_caption(config, columns),
        ["Model"] + [n for n, _ in columns],
    )
    for name, arms in rows.items():
        table.rows.append(
            [name]
            + [
                _accuracy(index, arms[role], config.analysis_task, config.table2_variant(role))
                for _, role in columns
            ]
        )
        if config.table2_rows:
            named = config.table2_rows[name]
            table.notes += [
                f"{name}: {column}: no results for arm '{named.get(role, '')}' (see table2_rows)"
                for column, role in columns
                if arms[role] is None
            ]
        else:
            table.notes += [f"{name}: {note}" for note in _missing_arm_notes(columns, arms, config)]
    if not config.table2_rows:
        table.caption += " " + _arms_caption(columns, next(iter(rows.values())))
    return _finish(table, f"no `{config.analysis_task}` results for the Table 2 arms and variants")


def extra_table2(index: ResultIndex, config: ReportConfig) -> Table:
    columns = [(ROLE_NAMES[role], role) for role in TABLE2_ROLES]
    table = Table(
        "extra_table2",
        "Extra (not in the paper): Table 2 with following rates and SIT (neg.)",
        _table2_caption(config, columns)
        + ' Each cell: accuracy / following rate. "(neg.)" rows: the same prompts with a forced wrong intermediate '
        "output (the `-neg` variants).",
        ["Model"] + [n for n, _ in columns],
        pair=("Acc", "Fol"),
    )
    for name, arms in _table2_rows(index, config).items():
        for suffix, label in (("", name), (NEG, f"{name} (neg.)")):
            table.rows.append(
                [label]
                + [
                    _acc_fol(index, arms[role], config.analysis_task, config.table2_variant(role) + suffix)
                    for _, role in columns
                ]
            )
    return _finish(table, f"no `{config.analysis_task}` results for the Table 2 arms and variants")


# ---- Table 3: XQuAD, multilingual IT vs multilingual SIT per language ----


def _gold_caption(index: ResultIndex, arms: list[str], variant: str) -> str:
    golds = {
        arm: result.summary.get("gold") or "not recorded"
        for arm in arms
        if (result := index.get(arm, "xquad", variant)) is not None
    }
    described = {
        "english": "the English answer (XQuAD is parallel by id)",
        "passage": "the passage-language answer",
    }
    if len(set(golds.values())) == 1:
        gold = next(iter(golds.values()))
        return f"Gold: {described.get(gold, gold)} (summary `gold`: {gold})."
    return "Gold differs between arms: " + ", ".join(f"{arm} {gold}" for arm, gold in golds.items()) + "."


def table3(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, ("xquad",))
    columns = [("IT", "it"), ("SIT", "sit")]
    languages = [*config.seen_languages, *config.unseen_languages]
    present = [arms[role] for _, role in columns if arms[role] is not None]
    table = Table(
        "table3",
        "Table 3: XQuAD",
        f"XQuAD accuracy per language with the `{config.xquad_variant}` prompt (translate the input into English, "
        "then answer): the paper's lenient measure, the normalized gold contained in the extracted answer. "
        f"{_gold_caption(index, present, config.xquad_variant)} Languages seen in training: "
        f"{', '.join(config.seen_languages) or 'none'}; unseen: {', '.join(config.unseen_languages) or 'none'}. "
        "IT and SIT are both multilingual (IT: English plus each language's translated originals). "
        + _arms_caption(columns, arms),
        ["Model", *languages],
        notes=_missing_arm_notes(columns, arms, config),
    )
    for name, role in columns:
        if arms[role] is not None:
            per_lang = [index.metrics(arms[role], "xquad", config.xquad_variant, lang) for lang in languages]
            table.rows.append([name, *(_metric(m, "accuracy") for m in per_lang)])
    return _finish(table, f"no `xquad/{config.xquad_variant}` results")


def extra_table3(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, ("xquad",))
    seen, unseen = config.seen_languages, config.unseen_languages
    table = Table(
        "extra_table3",
        "Extra (not in the paper): Table 3 averages, following rates and SIT (neg.)",
        f"XQuAD `{config.xquad_variant}`: mean accuracy and following rate over the seen ({', '.join(seen)}) and "
        f'unseen ({", ".join(unseen)}) languages that have results; "(neg.)" rows: the `{config.xquad_variant}'
        f"{NEG}` variant (a forced wrong translation).",
        ["Model", "Seen Avg", "Unseen Avg", "Seen Fol", "Unseen Fol"],
    )
    for name, role in (("IT", "it"), ("SIT", "sit")):
        if arms[role] is None:
            continue
        for suffix, label in (("", name), (NEG, f"{name} (neg.)")):
            variant = config.xquad_variant + suffix
            metrics = {lang: index.metrics(arms[role], "xquad", variant, lang) for lang in [*seen, *unseen]}
            table.rows.append(
                [label]
                + [  # Seen Avg, Unseen Avg, Seen Fol, Unseen Fol
                    _mean_present([_metric(metrics[lang], metric) for lang in group])
                    for metric in ("accuracy", "following_rate")
                    for group in (seen, unseen)
                ]
            )
    return _finish(table, f"no `xquad/{config.xquad_variant}` results")


# ---- Table 4: InstructBLIP on VQAv2 (in-domain) and GQA (out-of-domain) ----


def _table4_rows(config: ReportConfig) -> list[tuple[str, str, str]]:
    """(Method, role, variant) of each row, in the paper's order."""
    return [(method, role, config.table4_variant(row)) for method, row, role in TABLE4_ROWS]


def _table4_arms(index: ResultIndex, config: ReportConfig) -> dict[str, str | None]:
    return resolve_roles(index, config, tuple(task for _, task in TABLE4_TASKS))


def _table4_caption(config: ReportConfig, arms: dict[str, str | None]) -> str:
    prompts = ", ".join(f"{method} on `{variant}`" for method, _, variant in _table4_rows(config))
    return (
        "VQAv2: the official VQA accuracy (mean over questions); GQA: exact match after the official answer "
        f"normalization. prompt: the base model without tuning. Prompt variant of each row: {prompts}. "
        + _arms_caption(TABLE4_METHODS, arms)
    )


def table4(index: ResultIndex, config: ReportConfig) -> Table:
    arms = _table4_arms(index, config)
    table = Table(
        "table4",
        "Table 4: InstructBLIP on VQAv2 and GQA",
        _table4_caption(config, arms),
        ["Model", "Method", *(header for header, _ in TABLE4_TASKS)],
        notes=_missing_arm_notes(TABLE4_METHODS, arms, config),
        key_columns=2,
    )
    for method, role, variant in _table4_rows(config):
        arm = arms[role]
        table.rows.append([arm, method, *(_accuracy(index, arm, task, variant) for _, task in TABLE4_TASKS)])
    return _finish(table, "no `vqav2` or `gqa` results for the Table 4 arms and variants")


def extra_table4(index: ResultIndex, config: ReportConfig) -> Table:
    """Following rate and caption ROUGE-L of every arm prompted to describe the image, then answer."""
    arms = _table4_arms(index, config)
    describe, neg = config.table4_variant("sit"), config.table4_variant("sit_neg")
    rows = [(method, role, describe) for method, role in TABLE4_METHODS] + [("SIT (neg.)", "sit", neg)]
    table = Table(
        "extra_table4",
        "Extra (not in the paper): Table 4 following rates and caption quality",
        f"Rows prompted to describe the image, then answer (`{describe}`; SIT (neg.): `{neg}`, a caption of "
        "another image forced as the description). Fol: following rate (a description and an answer); R-L: "
        "ROUGE-L F of the description against the image's closest reference caption (for SIT (neg.) the "
        "forced caption's).",
        ["Model", "Method", *(f"{header} {name}" for header, _ in TABLE4_TASKS for name in ("Fol", "R-L"))],
        key_columns=2,
    )
    for method, role, variant in rows:
        arm = arms[role]
        cells: list[Cell] = [arm, method]
        for _, task in TABLE4_TASKS:
            metrics = index.metrics(arm, task, variant) if arm else None
            cells += [_metric(metrics, "following_rate"), _step_means(metrics, "rouge_l", "caption")]
        table.rows.append(cells)
    return _finish(table, f"no `vqav2` or `gqa` results on `{describe}` or `{neg}`")


# ---- Table 5: unseen intermediate tasks (evaluation instruction × training arm) ----


def table5(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, (config.analysis_task,))
    task = config.analysis_task
    table = Table(
        "table5",
        "Table 5: evaluation instruction × training data",
        f"{task}: accuracy / following rate (%) of each training arm prompted with the non-sequential "
        "instruction (`plain`), repeat-then-answer (`repeat`) and paraphrase-then-answer (`paraphrase`); a SIT arm "
        "tested on the other arm's intermediate task faces an unseen task. "
        + _arms_caption(TABLE5_COLUMNS, arms),
        ["Evaluation instruction"] + [name for name, _ in TABLE5_COLUMNS],
        notes=_missing_arm_notes(TABLE5_COLUMNS, arms, config),
        pair=("Acc", "Fol"),
    )
    for label, variant in TABLE5_ROWS:
        table.rows.append(
            [label] + [_acc_fol(index, arms[role], task, variant) for _, role in TABLE5_COLUMNS]
        )
    return _finish(table, f"no `{task}` results for the variants plain, repeat, paraphrase")


# ---- Table 6: number of steps, quality of the intermediate outputs ----


def table6(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, (config.analysis_task,))
    task = config.analysis_task
    table = Table(
        "table6",
        "Table 6: number of intermediate steps",
        f"{task}: ROUGE-L / BERTScore (F, %) of the intermediate outputs against their expected texts, the mean "
        'over the steps that have an expected text (repetitions; a paraphrase has none) — BERTScore "–" when '
        "scoring ran without it. R = repeat, P = paraphrase, A = answer. "
        + _arms_caption(TABLE6_COLUMNS, arms),
        ["Steps"] + [name for name, _ in TABLE6_COLUMNS],
        notes=_missing_arm_notes(TABLE6_COLUMNS, arms, config),
        pair=("ROUGE-L", "BERTScore"),
    )
    for label, variant in TABLE6_ROWS:
        row: list[Cell] = [label]
        for _, role in TABLE6_COLUMNS:
            metrics = index.metrics(arms[role], task, variant) if arms[role] else None
            row.append(
                None
                if metrics is None
                else (_step_means(metrics, "rouge_l"), _step_means(metrics, "bertscore"))
            )
        table.rows.append(row)
    return _finish(table, f"no `{task}` results for the variants {', '.join(v for _, v in TABLE6_ROWS)}")


# ---- §5.2: unseen prompt templates ----


def _template_variants(index: ResultIndex, config: ReportConfig) -> list[str]:
    if config.template_variants:
        return config.template_variants
    return [v for v in index.variants(config.analysis_task) if UNSEEN in v and not v.endswith(NEG)]


def unseen_templates(index: ResultIndex, config: ReportConfig) -> Table:
    arms = resolve_roles(index, config, (config.analysis_task,))
    task = config.analysis_task
    columns = [("IT", "it"), ("SIT", "sit")]
    variants = _template_variants(index, config)
    table = Table(
        "unseen_templates",
        "§5.2: unseen prompt templates",
        f"{task}: accuracy / following rate (%) with step verbalizations never used in training, one row per "
        f"template (the paper: three unseen templates, 50 samples each; here {len(variants)}). "
        + _arms_caption(columns, arms),
        ["Template (variant)"] + [name for name, _ in columns],
        notes=_missing_arm_notes(columns, arms, config),
        pair=("Acc", "Fol"),
    )
    for variant in variants:
        results = [index.get(arms[role], task, variant) for _, role in columns if arms[role]]
        templates = list(dict.fromkeys(r.summary.get("template") or "?" for r in results if r is not None))
        label = f"{' / '.join(templates) or '?'} ({variant})"
        table.rows.append([label] + [_acc_fol(index, arms[role], task, variant) for _, role in columns])
    return _finish(table, f"no `{task}` results for an `{UNSEEN}` variant (see template_variants)")


# ---- every result, every numeric metric ----


def _scalar_metrics(metrics: dict) -> dict[str, float]:
    """Every number of a summary's metrics; per-step lists (rouge_l, bertscore, faithful) as their mean."""
    values: dict[str, float] = {}
    for name, value in metrics.items():
        number = _step_means(metrics, name) if isinstance(value, list) else _metric(metrics, name)
        if number is not None and name != "n":
            values[name] = number
    return values


def results_table(index: ResultIndex, config: ReportConfig) -> Table:
    scalars = {id(r): _scalar_metrics(r.summary["metrics"]) for r in index.results}
    names = {name for values in scalars.values() for name in values}
    metric_names = [m for m in LEADING_METRICS if m in names] + sorted(names - set(LEADING_METRICS))
    table = Table(
        "results",
        "All results",
        "Every scored result and every numeric metric of its summary.json; a per-step metric (rouge_l, "
        "bertscore, faithful) is the mean of its step means.",
        ["Model", "Task", "Variant", "Lang", "n", *metric_names],
    )
    arm_rank = {arm: i for i, arm in enumerate(index.arms)}
    ordered = sorted(index.results, key=lambda r: (arm_rank[r.arm], r.task, r.variant, r.lang or ""))
    for result in ordered:
        n = result.summary.get("n", result.summary["metrics"].get("n"))
        table.rows.append(
            [
                result.arm,
                result.task,
                result.variant,
                result.lang or "all",
                n if isinstance(n, int) else None,
                *(scalars[id(result)].get(name) for name in metric_names),
            ]
        )
    return table


PAPER_TABLES: list[Callable[[ResultIndex, ReportConfig], Table]] = [
    table1,
    table2,
    table3,
    table4,
    table5,
    table6,
    unseen_templates,
]
EXTRA_TABLES: list[Callable[[ResultIndex, ReportConfig], Table]] = [extra_table2, extra_table3, extra_table4]
