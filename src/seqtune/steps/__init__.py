"""Intermediate tasks ("steps"), one module each; `STEPS.get(name)` finds them (see steps/base.py)."""

from seqtune.steps.base import (
    STEPS,
    GeneratedTextStep,
    Step,
    StepContext,
    StepUnavailable,
    Verbalization,
    step_label,
    verbalizations,
)

__all__ = [
    "STEPS",
    "GeneratedTextStep",
    "Step",
    "StepContext",
    "StepUnavailable",
    "Verbalization",
    "step_label",
    "verbalizations",
]
