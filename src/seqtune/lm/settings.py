"""The one settings section of every model-calling stage (augment, generate, and later callers).

Stage configs inherit `LMSettings`, so the same option has the same name, default and meaning everywhere
(`seqtune augment --model ... --base-url ...` and `seqtune generate --model ... --base-url ...`). The API-key
policy lives here too: a key is sent only when the settings name its environment variable for this server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal

from seqtune.config import Range, Seconds
from seqtune.errors import ConfigError


@dataclass(kw_only=True)
class LMSettings:
    backend: Literal["hf", "openai", "responses"] = "hf"
    """hf: a local Hugging Face model (a causal LM, or InstructBLIP with images: chosen by the model); openai: any OpenAI-compatible server (vLLM, TGI, SGLang, OpenAI) through the official openai client; responses (generate only): responses another system wrote, read from the `responses` file."""
    model: str = ""
    """hf: a model folder (a full model, a PEFT adapter folder holding adapter_config.json, or an InstructBLIP: a `seqtune train` output or a model whose config.json says model_type instructblip, generated with its images) or a hub id. openai: the served model name. responses: the name predictions record as the model (empty = the responses file's name)."""
    adapter: str | None = None
    """hf: a PEFT adapter folder to load on top of `model` (not needed when `model` itself is an adapter folder)."""
    prompt_template: str = "alpaca"
    """alpaca, chat, or a JSON file: how a request becomes prompt text for a model without a chat template; a prompt_template.json saved beside the model/adapter takes precedence."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """openai: the server's OpenAI-compatible base URL, e.g. https://api.openai.com/v1."""
    endpoint: Literal["chat", "completions"] = "chat"
    """openai: chat (chat completions: the server's chat template writes the prompt) or completions (plain completions: the prompt text is sent as written, so a forced response start works)."""
    continue_final_message: bool = False
    """openai, endpoint=chat: send a forced response start (SIT (neg.) variants) as an assistant message the model continues (vLLM's continue_final_message with add_generation_prompt off; OpenAI's API has no such option and refuses it). Off: generate refuses such variants on the chat endpoint."""
    api_key_env: str = ""
    """openai: the environment variable holding this server's API key, e.g. OPENAI_API_KEY. Empty = send no key, so that a key meant for one server never reaches another; the key is never logged or saved, and masked in server error messages."""
    concurrency: Annotated[int, Range(ge=1)] = 8
    """openai: requests in flight at once."""
    max_retries: Annotated[int, Range(ge=0)] = 5
    """openai: retries per request on timeouts, connection errors, 408/409/429 (honouring Retry-After) and 5xx."""
    timeout_s: Seconds = 120.0
    """openai: seconds to wait for one answer."""
    cache_path: str | None = None
    """Disk cache of answers (SQLite), consulted before any model call; a re-run never asks twice. Empty = the stage's default file beside its output."""
    batch_size: Annotated[int, Range(ge=1)] = 16
    """hf: prompts per forward batch (static batching: length-sorted, left-padded)."""
    batching: Literal["auto", "static", "continuous"] = "auto"
    """hf: static (length-sorted, left-padded batches), continuous (transformers' continuous batching with a paged KV cache; not yet measured on a GPU), or auto (static: see docs/lm.md)."""
    device: str = "auto"
    """hf: cuda, cuda:1, cpu ...; auto = cuda when available."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """hf: weights dtype; auto = bfloat16 on GPU, float32 on CPU."""
    merge_adapter: bool = True
    """hf: merge a LoRA adapter into the base weights before generating (faster; same outputs up to rounding)."""

    def validate_lm(self, *, allowed: tuple[str, ...]) -> None:
        if self.backend not in allowed:
            raise ConfigError(f"backend: must be one of {', '.join(allowed)} here, got '{self.backend}'")
        if self.continue_final_message and not (self.backend == "openai" and self.endpoint == "chat"):
            raise ConfigError(
                "continue_final_message: only for backend=openai with endpoint=chat (hf and the completions "
                "endpoint continue the prompt as written)"
            )
        if self.backend == "openai" and self.adapter:
            raise ConfigError(
                "adapter: the openai back-end cannot load adapters; serve the adapter (e.g. vLLM --lora-modules) "
                "and name it in model"
            )


def api_key(env_name: str | None) -> str | None:
    """The key in `env_name`, or None when no variable is named; a named variable must hold one."""
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise ConfigError(
            f"the API key variable '{env_name}' is not set; set it, or name no variable to send no key"
        )
    return key


def build_lm(settings: LMSettings, *, reject_incomplete: bool, cache_path: str | None):
    """The LM `settings.backend` names (the responses replay is built by generate, which reads its file)."""
    from seqtune.lm.base import LMS

    return LMS.get(settings.backend)(settings, reject_incomplete=reject_incomplete, cache_path=cache_path)
