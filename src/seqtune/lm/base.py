"""The language-model layer's types and interface: `LM.complete(requests, on_done) -> completions`.

One request type (chat messages or an already written prompt, an optional forced response start, decoding settings,
image paths for vision-language models) and one completion type (text, finish reason, cached or not, error) for
every model seqtune calls: a local Hugging Face model (lm/hf.py; InstructBLIP with images: lm/hf_vlm.py), an
OpenAI-compatible server (lm/openai_http.py), a replay of responses written elsewhere (lm/responses.py) and
seq2seq translation models (lm/mt.py). `LM.complete` does what is common to all of them once: the disk cache
(lm/cache.py; answers are stored as they arrive, so a killed run resumes without asking twice), identical requests
sent once, the rules on unusable answers (`judge_answer`), a progress bar, and `on_done(indices, completions)` so
callers can save results as they arrive.
Modules of this package import torch, transformers and openai only inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from seqtune.registry import Registry

# json.loads turns a valid "\\ud83d\\ude00" pair into one character, so a surrogate left in an answer is a lone one:
# legal JSON, but not text, and no UTF-8 file (the cache, the output) can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")

OnDone = Callable[[list[int], list["Completion"]], None]
"""on_done(indices into the requests, their completions), called as results arrive (cached ones first)."""
Done = Callable[[list[int], list["Completion"]], None]
"""What an implementation reports finished work to: done(indices into the requests it was given, completions)."""


@dataclass(frozen=True)
class Decoding:
    """How responses are decoded; saved with every prediction so that scores can be traced to it."""

    max_new_tokens: int = 256
    min_new_tokens: int = 0
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def to_dict(self) -> dict:
        values = asdict(self)
        values["stop"] = list(self.stop)
        return values


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest stop string it contains."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]


_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def image_mime(head: bytes) -> str | None:
    """The MIME type of an image file from its first 12 bytes (not its name: ShapeWorld writes PNG data under
    COCO's .jpg names); None when it is not a PNG, JPEG, GIF, BMP or WebP file."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _IMAGE_TYPES if head.startswith(magic)), None)


@dataclass(frozen=True)
class Request:
    """One model call. Either `messages` (a chat; the model's chat template or the server writes the prompt) or
    `prompt` (the text the model continues, already written with a prompt template)."""

    messages: tuple[dict[str, str], ...] = ()
    """OpenAI-style messages: ({"role": "system", "content": ...}, {"role": "user", "content": ...})."""
    prompt: str | None = None
    response_prefix: str = ""
    """A forced start of the response: part of what the model reads, never of the completion's text."""
    decoding: Decoding = field(default_factory=Decoding)
    images: tuple[str, ...] = ()
    """Image files the model sees with the text (vision-language back-ends: hf with InstructBLIP, one image;
    openai, sent as data URIs). Part of the cache key by path, not by content."""
    id: tuple[str, ...] = ()
    """The caller's name for this request, e.g. (example id, variant); the responses replay answers by it. Not
    part of the cache key."""

    @classmethod
    def chat(cls, system: str, user: str, decoding: Decoding, **extra: Any) -> Request:
        messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
        return cls(messages=messages if system else messages[1:], decoding=decoding, **extra)

    def cache_payload(self) -> dict:
        return {
            "messages": list(self.messages),
            "prompt": self.prompt,
            "response_prefix": self.response_prefix,
            "decoding": self.decoding.to_dict(),
            "images": [_image_identity(path) for path in self.images],
        }


def _image_identity(path: str) -> list:
    """An image as the cache sees it: its path, size and modification time, so that an image re-rendered at the
    same path is asked about again (hashing the content would read every image of a cached re-run)."""
    try:
        stat = os.stat(path)
    except OSError:  # a missing image: the request fails and is not cached
        return [path]
    return [path, stat.st_size, stat.st_mtime_ns]


@dataclass
class Completion:
    text: str | None
    """The answer (without the forced response start); None when there is no usable one."""
    finish_reason: str | None = None
    """"stop" (the model ended it or a stop string did), "length" (cut off by max_new_tokens), or None (unknown)."""
    error: str | None = None
    """Why there is no usable text, for people (after all retries)."""
    cached: bool = False
    failure: str | None = None
    """Why there is no usable text, as a stable key for counting: "failed" (the request failed after its
    retries), "empty", "truncated" (cut off by the token limit), "lone_surrogate" (no UTF-8 file can store it) or
    "no_response" (a replay has none); None when ok."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


def failed(failure: str, error: str, finish_reason: str | None = None) -> Completion:
    return Completion(None, finish_reason, error=error, failure=failure)


def judge_answer(text: str, finish_reason: str | None, *, reject_incomplete: bool) -> Completion:
    """A model's answer as a Completion, or as a failed one when it must not be used or cached.

    `reject_incomplete`: an empty answer or one cut off by the token limit (finish_reason "length") is a failure —
    augment would make it a training target. Generate keeps both: they are what the model said.
    """
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        where = f"U+{ord(surrogate.group()):04X} at character {surrogate.start()}"
        return failed("lone_surrogate", f"the answer holds a lone surrogate ({where})", finish_reason)
    # cut off first: an empty answer that hit the token limit (a reasoning model that spent it thinking) needs a
    # larger max_new_tokens, not another try
    if reject_incomplete and finish_reason == "length":
        return failed(
            "truncated", "the answer was cut off by the token limit (raise max_new_tokens)", finish_reason
        )
    if reject_incomplete and not text.strip():
        return failed("empty", "the answer is empty", finish_reason)
    return Completion(text, finish_reason)


class LM(ABC):
    """A model seqtune calls. `complete` keeps order (completion i answers request i) and never raises for one
    failed request; implementations write `_complete` and `identity`."""

    name: ClassVar[str] = ""
    continues_prompt: ClassVar[bool] = True
    """The model continues the prompt text itself, so a forced response start (response_prefix) is honoured."""
    replays: ClassVar[bool] = False
    """The answers were written elsewhere and are read from a file (nothing is cached; a missing one is left out)."""
    sees_images: ClassVar[bool] = False
    """The model is shown `Request.images`; generate refuses a task with images for an LM that is not."""
    needs_images: ClassVar[bool] = False
    """Every request must carry an image (InstructBLIP): generate refuses a task without images."""

    def __init__(self, model: str, *, reject_incomplete: bool = True, cache_path: str | None = None):
        from seqtune.lm.cache import ResponseCache

        self.model = model
        self.adapter: str | None = None
        self.reject_incomplete = reject_incomplete
        self.cache = ResponseCache(cache_path) if cache_path else None
        self.stats: Counter[str] = Counter()
        """requests, cache_hits, failures; rejected answers add rejected_<failure> (empty, truncated, ...)."""

    def identity(self) -> dict:
        """What besides the request decides the answer (model, adapter, template ...): part of the cache key."""
        return {"backend": self.name, "model": self.model}

    def cache_key(self, request: Request) -> str:
        payload = json.dumps(
            {"lm": self.identity(), **request.cache_payload()}, ensure_ascii=False, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def prompt_text(self, request: Request) -> str:
        """What the model reads for `request`, forced response start included (recorded in predictions)."""
        if request.prompt is not None:
            return request.prompt + request.response_prefix
        return "\n\n".join(m["content"] for m in request.messages) + request.response_prefix

    def saved_template(self):
        """The prompt template stored beside the model/adapter (how it was trained), if the LM can see one."""
        return None

    def complete(
        self, requests: Sequence[Request], on_done: OnDone | None = None, *, desc: str = "model calls"
    ) -> list[Completion]:
        from tqdm import tqdm

        results: list[Completion | None] = [None] * len(requests)
        keys = [self.cache_key(request) for request in requests]
        pending: dict[str, list[int]] = {}  # identical requests are asked once
        hits: list[int] = []
        for index, key in enumerate(keys):
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                # a cache written under another policy (generate keeps empty answers) may hold an unusable one
                cached = judge_answer(
                    cached.text, cached.finish_reason, reject_incomplete=self.reject_incomplete
                )
                cached.cached = True
            if cached is not None and cached.ok:
                results[index] = cached
                hits.append(index)
            else:
                pending.setdefault(key, []).append(index)
        self.stats["cache_hits"] += len(hits)
        unique = list(pending)
        with tqdm(total=len(requests), desc=desc, unit="req", disable=None, leave=False) as progress:
            if hits:
                progress.update(len(hits))
                if on_done is not None:
                    on_done(hits, [results[i] for i in hits])  # type: ignore[misc]

            def done(positions: list[int], completions: list[Completion]) -> None:
                indices: list[int] = []
                answers: list[Completion] = []
                for position, raw in zip(positions, completions, strict=True):
                    completion = raw
                    if raw.text is not None:
                        completion = judge_answer(
                            raw.text, raw.finish_reason, reject_incomplete=self.reject_incomplete
                        )
                    if completion.failure is not None:
                        self.stats[
                            "failures" if completion.failure == "failed" else f"rejected_{completion.failure}"
                        ] += 1
                    elif self.cache is not None:
                        self.cache.put(unique[position], completion)
                    for index in pending[unique[position]]:
                        results[index] = completion
                        indices.append(index)
                        answers.append(completion)
                progress.update(len(indices))
                if on_done is not None and indices:
                    on_done(indices, answers)

            if unique:
                self._complete([requests[pending[key][0]] for key in unique], done)
        missing = [index for index, result in enumerate(results) if result is None]
        for (
            index
        ) in missing:  # an implementation that reported nothing for a request: say so, never crash later
            results[index] = failed("failed", f"{self.name}: no answer was reported")
        return results  # type: ignore[return-value]

    @abstractmethod
    def _complete(self, requests: list[Request], done: Done) -> None:
        """Answer every request (none of them cached), reporting them through `done` as they finish; an answer
        with text is judged by `complete`, so implementations report raw text and finish reason."""

    def close(self) -> None:
        """Release the cache, connections or memory held."""
        if self.cache is not None:
            self.cache.close()

    def describe(self) -> dict:
        """What goes into a manifest about this LM."""
        return {
            "backend": self.name,
            "model": self.model,
            "adapter": self.adapter,
            "lm_stats": dict(self.stats),
        }


LMS: Registry[LM] = Registry("language-model back-end", "seqtune.lm")
"""name → factory(settings: LMSettings, *, reject_incomplete, cache_path) -> LM."""


class LocalModel(ABC):
    """A model run in this process (a causal LM, a translator), loaded on first use: a fully cached re-run never
    loads it. Subclasses set `_network`, `_tokenizer` (None until loaded) and `_load_options`, and write `_load`."""

    _network = None
    _tokenizer = None
    _load_options: dict

    @property
    def network(self):
        if self._network is None:
            self._load(**self._load_options)
        return self._network

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._load(**self._load_options)
        return self._tokenizer

    @abstractmethod
    def _load(self, **options) -> None:
        """Load `_network` and `_tokenizer` with `_load_options`."""
