"""A local Hugging Face model as a provider (augment's paraphrase/translate steps without a server).

It wraps generate's batched HF back-end. Chat messages become a prompt with the tokenizer's chat template when
the model has one; otherwise with a text template (the one saved beside the model, else `options.prompt_template`,
default alpaca) where the system message is the instruction and the user message the input. Answers go to the
same disk cache as the HTTP client's (same keys), so a re-run generates only what is missing.
Options (ProviderSettings.options): batch_size, device, dtype, adapter, prompt_template.
"""

from __future__ import annotations

import json
from typing import Any

from seqtune.generate.backend import Decoding
from seqtune.prompts import PromptTemplate, get_template
from seqtune.providers.base import PROVIDERS, ChatRequest, Completion, Provider, ProviderSettings
from seqtune.providers.cache import ResponseCache, request_key

DEFAULT_MAX_TOKENS = 512


def decoding_for(params: dict[str, Any]) -> Decoding:
    """OpenAI request parameters → generate's decoding settings."""
    stop = params.get("stop") or ()
    return Decoding(
        max_new_tokens=int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
        temperature=float(params.get("temperature") or 0.0),
        top_p=float(params.get("top_p") or 1.0),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        seed=int(params.get("seed") or 0),
    )


class LocalHFProvider(Provider):
    def __init__(self, settings: ProviderSettings):
        self.settings = settings
        self.options = dict(settings.options)
        self.cache = ResponseCache(settings.cache_path) if settings.cache_path else None
        self._backend = None
        self._template: PromptTemplate | None = None

    @property
    def backend(self):
        """The model, loaded on first use (a fully cached re-run never loads it)."""
        if self._backend is None:
            from seqtune.generate.hf_backend import HFBackend

            self._backend = HFBackend.load(
                self.settings.model,
                adapter=self.options.get("adapter"),
                batch_size=int(self.options.get("batch_size", 16)),
                device=self.options.get("device", "auto"),
                dtype=self.options.get("dtype", "auto"),
            )
            self._template = self._backend.saved_template() or get_template(
                self.options.get("prompt_template", "alpaca")
            )
        return self._backend

    def render(self, request: ChatRequest) -> str:
        backend = self.backend
        messages = [dict(message) for message in request.messages]
        if getattr(backend.tokenizer, "chat_template", None):
            return backend.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        user = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
        instruction, input_text = (system, user) if system else (user, "")
        return backend.render(self._template, instruction, input_text)

    def complete(self, requests: list[ChatRequest], progress: Any = None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        # the adapter and template change the answers as much as the model does, so they are part of the key
        identity = json.dumps(
            [self.settings.model, self.options.get("adapter"), self.options.get("prompt_template")],
            sort_keys=True,
        )
        keys = [request_key(identity, request) for request in requests]
        groups: dict[tuple, list[int]] = {}  # requests with equal decoding parameters are generated together
        for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
            cached = self.cache.get(key) if self.cache else None
            if cached is not None:
                results[index] = cached
                if progress is not None:
                    progress.update(1)
            else:
                groups.setdefault(request.params, []).append(index)
        for params, indices in groups.items():

            def store(done: list[int], texts: list[str], indices: list[int] = indices) -> None:
                for position, text in zip(done, texts, strict=True):
                    completion = Completion(text)
                    results[indices[position]] = completion
                    if self.cache is not None:
                        self.cache.put(keys[indices[position]], completion)
                if progress is not None:
                    progress.update(len(done))

            prompts = [self.render(requests[index]) for index in indices]
            self.backend.generate(prompts, decoding_for(dict(params)), on_done=store)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self._backend = None


@PROVIDERS.register("local_hf")
def _local_hf(settings: ProviderSettings) -> LocalHFProvider:
    return LocalHFProvider(settings)
