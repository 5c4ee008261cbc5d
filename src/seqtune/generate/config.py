"""`seqtune generate` and `seqtune eval` configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seqtune.errors import ConfigError


@dataclass
class GenerateConfig:
    task: str
    """Task name (commonsense_qa, xquad, probe, jsonl, ...)."""
    model: str
    """hf: a model folder (full model or a PEFT adapter folder holding adapter_config.json) or a hub id. http: the served model name."""
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
    backend: Literal["hf", "http"] = "hf"
    """hf: a local Hugging Face model; http: an OpenAI-compatible server (vLLM, TGI, SGLang, OpenAI)."""
    adapter: str | None = None
    """A PEFT adapter folder to load on top of `model` (not needed when `model` itself is an adapter folder)."""
    prompt_template: str = "alpaca"
    """alpaca, chat, or a JSON file; a prompt_template.json saved beside the model/adapter takes precedence."""
    max_new_tokens: int = 256
    """Most tokens generated per response."""
    min_new_tokens: int = 0
    """Fewest tokens generated per response (EOS is ignored until then; hf only)."""
    temperature: float = 0.0
    """0 = greedy decoding; above 0 samples with this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass (used only when sampling)."""
    stop: list[str] = field(default_factory=list)
    """Generation stops at any of these strings; the stop string is not part of the response."""
    seed: int = 0
    """Random seed (sampling)."""
    batch_size: int = 16
    """hf: prompts per forward batch (prompts are length-sorted, left-padded)."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """hf: weights dtype; auto = bfloat16 on GPU, float32 on CPU."""
    device: str = "auto"
    """hf: cuda, cuda:1, cpu ...; auto = cuda when available."""
    merge_adapter: bool = True
    """hf: merge a LoRA adapter into the base weights before generating (faster; same outputs up to rounding)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """http: the server's OpenAI-compatible base URL (prompts go to its chat-completions endpoint)."""
    api_key_env: str = ""
    """http: the environment variable holding the API key, e.g. OPENAI_API_KEY (keys are never written anywhere).
    Empty = send no key, so that a key meant for one server never reaches another."""
    concurrency: int = 8
    """http: requests in flight at once."""
    max_retries: int = 5
    """http: retries per request on timeouts, 429 and 5xx."""
    timeout_s: float = 120.0
    """http: seconds per request."""
    cache_path: str | None = None
    """http: JSONL disk cache of answers (augment's provider cache format); empty = OUTPUT/http_cache.jsonl."""

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens: must be at least 1")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ConfigError("min_new_tokens: must be between 0 and max_new_tokens")
        if self.temperature < 0:
            raise ConfigError("temperature: must be 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p: must be in (0, 1]")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ConfigError("batch_size and concurrency: must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit: must be at least 1")
        if self.backend == "http" and self.adapter:
            raise ConfigError(
                "adapter: the http back-end cannot load adapters; serve the adapter (e.g. vLLM --lora-modules) and name it in model"
            )


@dataclass
class EvalConfig(GenerateConfig):
    score_options: dict[str, Any] = field(default_factory=dict)
    """Extra ScoreConfig fields for the score step (e.g. {bertscore: false}); predictions and output are set by eval."""
