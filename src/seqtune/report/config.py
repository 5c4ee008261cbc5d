"""Configuration of `seqtune report`."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqtune.errors import ConfigError

# Which arm (display label) plays each part of the paper's tables: the first label of the list that is present.
# Arm names stay plain names (run.py makes them folder names), so "+Repeat" is spelled "-R" here.
DEFAULT_ARM_ROLES: dict[str, list[str]] = {
    "it": ["IT"],
    "sit": ["SIT", "SIT-R", "SIT-1"],
    "sit_repeat": ["SIT-R", "SIT-repeat", "SIT-1", "SIT"],
    "sit_paraphrase": ["SIT-P", "SIT-paraphrase"],
    "sit2": ["SIT-2", "SIT-RP"],
    "base": ["base", "prompt"],
    "seqeval_baseline": [],  # none: the `it` role's arm
}
DEFAULT_TABLE2_VARIANTS = {"it": "repeat", "sit_repeat": "repeat", "sit_paraphrase": "paraphrase"}
# Table 4's rows: the base model and IT on the plain VQA prompt, SIT describing the image then answering, SIT
# (neg.) the same with a caption of another image forced as its description.
DEFAULT_TABLE4_VARIANTS = {"prompt": "plain", "it": "plain", "sit": "caption", "sit_neg": "caption-neg"}


@dataclass
class ReportConfig:
    runs: list[str] = field(default_factory=list)
    """Scored runs: folders searched recursively for summary.json (with scores.jsonl beside it), or summary.json
    files. Each result's arm (model/adapter) is its summary's `label`, else derived from the adapter or model path."""
    output: str = ""
    """Folder for report.md, the tables (markdown + CSV) and figures; default: <first run>/report."""
    labels: dict[str, str] = field(default_factory=dict)
    """Rename arms, e.g. {it: IT, sit: SIT}; a key is a derived label or a full model/adapter path."""
    arm_order: list[str] = field(default_factory=list)
    """Row order of arms (display labels); arms not listed follow in alphabetical order."""
    arm_roles: dict[str, list[str]] = field(default_factory=dict)
    """Which arm fills each column of the paper's tables: role → candidate arm labels, the first present wins.
    Roles: it (IT), sit (SIT of Tables 3 and 4, §5.2, Figure 3), sit_repeat (SIT +Repeat / SIT-1), sit_paraphrase
    (SIT +Paraphrase), sit2 (SIT-2, +R+P), base (Table 4's prompt row: the untuned base model), seqeval_baseline
    (the arm the SeqEval win rates are against; default: the `it` role's; `seqtune run` sets it to its judge's
    baseline). Roles not given keep their defaults (docs/report.md)."""
    methods: dict[str, str] = field(default_factory=dict)
    """Table 1's Method column per arm, e.g. {Llama-2-7B-chat: SFT+RLHF}; an arm without one shows its role."""
    table2_variants: dict[str, str] = field(default_factory=dict)
    """Table 2: the CommonsenseQA prompt variant of each column (role → variant); defaults: it and sit_repeat on
    repeat, sit_paraphrase on paraphrase."""
    table2_rows: dict[str, dict[str, str]] = field(default_factory=dict)
    """Table 2 rows for several base models: row name → {role: arm}; default one row from `arm_roles`."""
    table4_variants: dict[str, str] = field(default_factory=dict)
    """Table 4: the VQAv2/GQA prompt variant of each row (prompt, it, sit, sit_neg → variant); defaults: prompt
    and it on plain, sit on caption, sit_neg on caption-neg."""
    seen_languages: list[str] = field(default_factory=lambda: ["de", "zh", "ru", "es"])
    """XQuAD languages seen in training (Table 3, left block)."""
    unseen_languages: list[str] = field(default_factory=lambda: ["ar", "el", "vi", "hi", "tr", "th"])
    """XQuAD languages not seen in training (Table 3, right block)."""
    xquad_variant: str = "translate"
    """Table 3: the XQuAD prompt variant (the paper's translate-then-answer)."""
    analysis_task: str = "commonsense_qa"
    """Task of Tables 5 and 6 and of the §5.2 unseen-template analysis."""
    template_variants: list[str] = field(default_factory=list)
    """§5.2: the variants holding the unseen templates; default every `-unseen` variant (not `-neg`) found."""
    figure_task: str = "xquad"
    """Figure 3: the task plotted."""
    figure_variant: str = "translate"
    """Figure 3: the prompt variant plotted."""
    figure_lang: str = "es"
    """Figure 3: the language plotted (empty = every example of the task and variant)."""
    figure_samples: int = 100
    """Figure 3: the first N examples of that language, in scores.jsonl order (the paper: 100); 0 = all."""
    window: int = 10
    """Figure 3 smoothing: moving-average window over examples sorted by input length."""

    def validate(self) -> None:
        if not self.runs:
            raise ConfigError("runs: give at least one scored run folder or summary.json file")
        if self.window < 1:
            raise ConfigError(f"window: must be at least 1, got {self.window}")
        if self.figure_samples < 0:
            raise ConfigError(f"figure_samples: must be 0 (all) or more, got {self.figure_samples}")
        named = [(f"arm_roles.{role}", role, DEFAULT_ARM_ROLES) for role in self.arm_roles]
        named += [(f"table2_variants.{role}", role, DEFAULT_TABLE2_VARIANTS) for role in self.table2_variants]
        named += [
            (f"table2_rows.{row}.{role}", role, DEFAULT_TABLE2_VARIANTS)
            for row, cells in self.table2_rows.items()
            for role in cells
        ]
        named += [(f"table4_variants.{row}", row, DEFAULT_TABLE4_VARIANTS) for row in self.table4_variants]
        for where, role, known in named:
            if role not in known:
                raise ConfigError(f"{where}: unknown role '{role}'; known: {', '.join(known)}")
        self._check_task_names()

    def _check_task_names(self) -> None:
        """Tasks, variants and languages exist, so that a typo is an error and not a table left out."""
        from seqtune.tasks import TASKS
        from seqtune.tasks.xquad import ALL_LANGUAGES

        analysis = [*self.table2_variants.values(), *self.template_variants]
        for where, task, variants in (
            ("analysis_task", self.analysis_task, analysis),
            ("figure_task", self.figure_task, [self.figure_variant]),
            ("xquad_variant", "xquad", [self.xquad_variant]),
            ("table4_variants", "vqav2", list(self.table4_variants.values())),
        ):
            try:
                known = TASKS.get(task)().variant_names()
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None
            unknown = [variant for variant in variants if variant not in known]
            if unknown:
                raise ConfigError(
                    f"{where}: task '{task}' has no variant(s) {', '.join(unknown)}; known: {', '.join(known)}"
                )
        languages = [*self.seen_languages, *self.unseen_languages]
        unknown = [lang for lang in languages if lang not in ALL_LANGUAGES]
        if unknown:
            raise ConfigError(
                f"seen_languages/unseen_languages: unknown XQuAD language(s) {', '.join(unknown)}; "
                f"known: {', '.join(ALL_LANGUAGES)}"
            )

    def roles(self) -> dict[str, list[str]]:
        """Every role's candidate arm labels: the defaults with the configured roles replaced."""
        return {**DEFAULT_ARM_ROLES, **self.arm_roles}

    def table2_variant(self, role: str) -> str:
        return {**DEFAULT_TABLE2_VARIANTS, **self.table2_variants}[role]

    def table4_variant(self, row: str) -> str:
        return {**DEFAULT_TABLE4_VARIANTS, **self.table4_variants}[row]
