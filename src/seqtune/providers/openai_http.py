"""An OpenAI-compatible chat-completions client (OpenAI, vLLM, TGI, SGLang), standard library only.

Bounded concurrency (a thread pool), retries with exponential backoff on 429 (honouring Retry-After), 5xx,
timeouts, connection errors and malformed answers, and an optional disk cache consulted before any request. The
API key is read from the environment variable named in the settings and only ever placed in the request header.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from seqtune.providers.base import PROVIDERS, ChatRequest, Completion, Provider, ProviderSettings
from seqtune.providers.cache import ResponseCache, request_key

log = logging.getLogger(__name__)


class _Retryable(Exception):
    def __init__(self, message: str, wait_s: float | None = None):
        super().__init__(message)
        self.wait_s = wait_s


class OpenAIChatClient(Provider):
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 60.0,
        cache: ResponseCache | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.cache = cache
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "cache_hits": 0, "retries": 0, "failures": 0}

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> OpenAIChatClient:
        cache = ResponseCache(settings.cache_path) if settings.cache_path else None
        return cls(
            settings.base_url,
            settings.model,
            api_key_env=settings.api_key_env,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            timeout_s=settings.timeout_s,
            cache=cache,
            **{k: v for k, v in settings.options.items() if k in ("backoff_s", "max_backoff_s")},
        )

    def complete(self, requests: list[ChatRequest], progress: Any = None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # identical requests in one batch are sent once
        for index, request in enumerate(requests):
            key = request_key(self.model, request)
            cached = self.cache.get(key) if self.cache else None
            if cached is not None:
                results[index] = cached
                self._count("cache_hits")
                if progress is not None:
                    progress.update(1)
            else:
                pending.setdefault(key, []).append(index)

        def work(key: str) -> None:
            indices = pending[key]
            completion = self.complete_one(requests[indices[0]])
            if self.cache is not None:
                self.cache.put(key, completion)
            for index in indices:
                results[index] = completion
            if progress is not None:
                progress.update(len(indices))

        if pending:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(pending))) as pool:
                list(pool.map(work, pending))
        return results  # type: ignore[return-value]

    def complete_one(self, request: ChatRequest) -> Completion:
        """One request with retries; never raises."""
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count("retries")
            try:
                self._count("requests")
                return self._post(request)
            except _Retryable as error:
                last_error = str(error)
                if attempt == self.max_retries:
                    break
                wait = (
                    error.wait_s
                    if error.wait_s is not None
                    else self.backoff_s * 2**attempt * (0.5 + random.random())
                )
                log.debug("retrying in %.2fs after: %s", wait, last_error)
                time.sleep(min(wait, self.max_backoff_s))
            except _Fatal as error:
                last_error = str(error)
                break
        self._count("failures")
        return Completion(None, error=last_error)

    def _post(self, request: ChatRequest) -> Completion:
        body = json.dumps(
            {"model": self.model, "messages": list(request.messages), **dict(request.params)}
        ).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        http_request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            status = error.code
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status}", _retry_after(error.headers.get("Retry-After"))) from None
            raise _Fatal(f"HTTP {status}: {error.read()[:200].decode('utf-8', 'replace')}") from None
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
            OSError,
        ) as error:
            raise _Retryable(f"connection problem: {getattr(error, 'reason', error)}") from None
        try:
            choice = json.loads(raw)["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Retryable(f"malformed answer ({error.__class__.__name__}: {error})") from None
        return Completion(text, choice.get("finish_reason"))

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[name] += amount

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


class _Fatal(Exception):
    """An error a retry cannot fix (400, 401, 404 ...)."""


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


@PROVIDERS.register("openai")
def _openai(settings: ProviderSettings) -> OpenAIChatClient:
    return OpenAIChatClient.from_settings(settings)
