"""Generation through an OpenAI-compatible server (vLLM, TGI, SGLang, OpenAI): any served model, one machine or many.

The HTTP work (bounded concurrency, retries with backoff, the API key from the environment, the disk cache) is
augment's provider client `seqtune.providers.openai_http.OpenAIChatClient`; this module only turns prompts and
decoding settings into its chat requests. Each prompt (rendered with the prompt template) is sent as one user
message; with the `chat` template the server's own chat template wraps instruction + input instead.
Answers are cached on disk as they arrive, so a re-run asks the server only for what it has not answered yet.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from seqtune.errors import SeqtuneError
from seqtune.generate.backend import BACKENDS, Backend, Decoding, OnDone, truncate_at_stop
from seqtune.prompts import PromptTemplate

log = logging.getLogger(__name__)


def request_params(decoding: Decoding) -> dict:
    """OpenAI request fields for `decoding` (sampling fields only when sampling, so greedy requests stay minimal)."""
    params: dict = {"max_tokens": decoding.max_new_tokens, "temperature": decoding.temperature}
    if not decoding.greedy:
        params.update(top_p=decoding.top_p, seed=decoding.seed)
    if decoding.min_new_tokens:
        params["min_tokens"] = decoding.min_new_tokens  # a vLLM extension; OpenAI rejects it
    if decoding.stop:
        params["stop"] = list(decoding.stop)
    return params


class HTTPBackend(Backend):
    name = "http"
    continues_prompt = False

    def __init__(self, client, *, chunk_size: int = 64):
        self.client = client
        self.model = client.model
        self.chunk_size = chunk_size

    def render(self, template: PromptTemplate, instruction: str, input_text: str) -> str:
        if template.kind == "chat":
            return template.user_message(instruction, input_text)
        return template.render(instruction, input_text)

    def generate(
        self, prompts: Sequence[str], decoding: Decoding, on_done: OnDone | None = None
    ) -> list[str]:
        from seqtune.providers.base import ChatRequest

        params = request_params(decoding)
        texts: list[str] = []
        failures: list[str] = []
        # chunks, so that finished answers reach the caller (and its resume file) while the rest are in flight
        for start in range(0, len(prompts), self.chunk_size):
            chunk = prompts[start : start + self.chunk_size]
            requests = [
                ChatRequest.build([{"role": "user", "content": prompt}], **params) for prompt in chunk
            ]
            completions = self.client.complete(requests)
            done = [
                (start + i, truncate_at_stop(c.text, decoding.stop))
                for i, c in enumerate(completions)
                if c.ok
            ]
            failures += [c.error or "no text" for c in completions if not c.ok]
            texts += [truncate_at_stop(c.text, decoding.stop) if c.ok else "" for c in completions]
            if on_done is not None and done:
                on_done([index for index, _ in done], [text for _, text in done])
        if failures:
            raise SeqtuneError(
                f"{self.client.url}: {len(failures)} of {len(prompts)} request(s) failed after retries "
                f"(first: {failures[0]}); answers received are saved, re-run to retry the rest"
            )
        return texts

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.client.url, "http_stats": dict(self.client.stats)}


@BACKENDS.register("http")
def from_config(config) -> HTTPBackend:
    from seqtune.providers.base import ProviderSettings
    from seqtune.providers.openai_http import OpenAIChatClient

    settings = ProviderSettings(
        model=config.model,
        base_url=config.base_url,
        api_key_env=config.api_key_env or None,
        concurrency=config.concurrency,
        max_retries=config.max_retries,
        timeout_s=config.timeout_s,
        cache_path=config.cache_path or str(Path(config.output) / "http_cache.jsonl"),
    )
    return HTTPBackend(OpenAIChatClient.from_settings(settings), chunk_size=max(64, 4 * config.concurrency))
