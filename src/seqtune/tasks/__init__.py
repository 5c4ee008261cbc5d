"""Benchmarks: one module each, registered in TASKS (see base.py)."""

from seqtune.tasks.base import TASKS, Example, PromptSpec, Task

__all__ = ["TASKS", "Example", "PromptSpec", "Task"]
