"""Configuration of `seqtune report`."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqtune.errors import ConfigError


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
    main_variants: dict[str, str] = field(
        default_factory=lambda: {"commonsense_qa": "repeat", "xquad": "translate"}
    )
    """Table 2: the prompt variant reported per task; its `-neg` variant gives the "(neg.)" rows."""
    xquad_metric: str = "accuracy"
    """Metric of the XQuAD columns in Table 2 (a key of summary.json `metrics`, e.g. accuracy, exact_match, f1)."""
    seen_languages: list[str] = field(default_factory=lambda: ["de", "zh", "ru", "es"])
    """XQuAD languages seen in training (Table 2, left block)."""
    unseen_languages: list[str] = field(default_factory=lambda: ["ar", "el", "vi", "hi", "tr", "th"])
    """XQuAD languages not seen in training (Table 2, right block)."""
    analysis_task: str = "commonsense_qa"
    """Task of the analyses: Tables 3, 5 and 6 and Figure 3."""
    figure_variant: str = "repeat"
    """Prompt variant plotted in Figure 3."""
    window: int = 10
    """Figure 3 smoothing: moving-average window over examples sorted by input length."""

    def validate(self) -> None:
        if not self.runs:
            raise ConfigError("runs: give at least one scored run folder or summary.json file")
        if self.window < 1:
            raise ConfigError(f"window: must be at least 1, got {self.window}")
