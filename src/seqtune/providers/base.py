"""The provider interface: a batch of chat requests in, one Completion (text or error) per request out.

Providers register under a name (`openai`, `local_hf`) and are built from ProviderSettings. Modules of this
package are imported when the registry is first used, so they must not import torch at module level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from seqtune.registry import Registry


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[dict[str, str], ...]
    """OpenAI-style messages: ({"role": "system", "content": ...}, {"role": "user", "content": ...})."""
    params: tuple[tuple[str, Any], ...] = ()
    """Sampling parameters (temperature, max_tokens, stop, ...) as sorted (name, value) pairs."""

    @classmethod
    def build(cls, messages: list[dict[str, str]], **params: Any) -> ChatRequest:
        return cls(tuple(dict(m) for m in messages), tuple(sorted(params.items())))

    @classmethod
    def system_user(cls, system: str, user: str, **params: Any) -> ChatRequest:
        return cls.build([{"role": "system", "content": system}, {"role": "user", "content": user}], **params)


@dataclass
class Completion:
    text: str | None
    """The answer; None when the request failed."""
    finish_reason: str | None = None
    error: str | None = None
    """Why the request failed (after all retries)."""
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass
class ProviderSettings:
    model: str
    """Served model name (HTTP) or a local model folder / hub id (local_hf)."""
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str | None = "OPENAI_API_KEY"
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 60.0
    cache_path: str | None = None
    """Disk cache of answers (providers/cache.py); None: no cache."""
    options: dict[str, Any] = field(default_factory=dict)
    """Provider-specific extras (e.g. batch_size, device for local_hf)."""


class Provider(ABC):
    """`complete` keeps order: result i answers request i. It never raises for one failed request."""

    @abstractmethod
    def complete(self, requests: list[ChatRequest], progress: Any = None) -> list[Completion]:
        """`progress`: an optional tqdm-like object; `update(1)` is called per finished request."""

    def close(self) -> None:
        """Release connections / models."""


PROVIDERS: Registry[Provider] = Registry("provider", "seqtune.providers")


def build_provider(name: str, settings: ProviderSettings) -> Provider:
    return PROVIDERS.get(name)(settings)
