"""`seqtune generate` and `seqtune eval` configuration: the task part here, the model part (backend, model,
base_url, api_key_env, concurrency, retries, timeout, cache, batching ...) is the shared `LMSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seqtune.errors import ConfigError
from seqtune.lm.settings import LMSettings


@dataclass
class GenerateConfig(LMSettings):
    task: str
    """Task name (commonsense_qa, xquad, probe, jsonl, ...)."""
    output: str
    """Output folder: predictions.jsonl + manifest.json."""
    data: str | None = None
    """Task data: a local file/folder or a hub id; empty = the task's default."""
    variants: list[str] = field(default_factory=list)
    """Prompt variants to run; empty = all variants of the task."""
    limit: int | None = None
    """Use only the first N examples of the task."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Extra options for the task's loader (e.g. languages for xquad)."""
    max_new_tokens: int = 256
    """Most tokens generated per response."""
    min_new_tokens: int = 0
    """Fewest tokens generated per response (EOS is ignored until then; hf, and vLLM servers)."""
    temperature: float = 0.0
    """0 = greedy decoding; above 0 samples with this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass (used only when sampling)."""
    stop: list[str] = field(default_factory=list)
    """Generation stops at any of these strings; the stop string is not part of the response."""
    seed: int = 0
    """Random seed (sampling)."""
    responses: str | None = None
    """responses: a JSONL(.gz) file with one response per line, keyed by example id (and variant, see variant_field)."""
    id_field: str = "id"
    """responses: the field holding the example id (compared as a string: 7 and "7" are the same id);
    empty = the file has no ids and its Nth record answers the example with id "N-1" (e.g. the SIT authors' files)."""
    response_field: str = "response"
    """responses: the field holding the response text."""
    variant_field: str = "variant"
    """responses: the field naming the prompt variant; a file without it answers the one variant named in variants."""
    responses_decoding: dict[str, Any] = field(default_factory=dict)
    """responses: the decoding settings the other system used, recorded in every prediction; empty = unknown."""
    on_error: Literal["fail", "skip"] = "fail"
    """responses: a line without the id or response field stops the run (fail) or is counted and skipped (skip)."""

    def validate(self) -> None:
        self.validate_lm(allowed=("hf", "openai", "responses"))
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens: must be at least 1")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ConfigError("min_new_tokens: must be between 0 and max_new_tokens")
        if self.temperature < 0:
            raise ConfigError("temperature: must be 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p: must be in (0, 1]")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit: must be at least 1")
        if self.backend != "responses" and not self.model:
            raise ConfigError(f"model: required with backend={self.backend}")
        if (self.backend == "responses") != bool(self.responses):
            raise ConfigError("responses: backend=responses needs a responses file, and only it reads one")


@dataclass
class EvalConfig(GenerateConfig):
    score_options: dict[str, Any] = field(default_factory=dict)
    """Extra ScoreConfig fields for the score step (e.g. {bertscore: false}); predictions and output are set by eval."""
