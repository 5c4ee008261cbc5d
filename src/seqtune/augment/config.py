"""Configuration of `seqtune augment` (field docstrings are the --help text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqtune.errors import ConfigError


@dataclass
class AugmentConfig:
    inputs: list[str] = field(default_factory=list)
    """Instruction data: Alpaca .json/.jsonl files (optionally .gz), local Hugging Face dataset folders, or hub ids."""
    output: str = ""
    """Output JSONL file of sequential (and original) records; manifest.json is written beside it."""
    steps: list[str] = field(default_factory=lambda: ["repeat"])
    """Intermediate steps, in order, for the records of `inputs`: repeat, paraphrase, translate, caption."""
    seed: int = 0
    """Seed for verbalization choice, sampling and shuffling."""
    on_error: Literal["fail", "skip"] = "fail"
    """fail: stop at the first bad record; skip: skip bad records and count them by reason."""
    output_format: Literal["newline", "labelled"] = "newline"
    """newline: step outputs then the answer, one per line (the paper); labelled: each under a 'Label:' line."""
    verbalization: str = "paper"
    """Step phrasing: paper (the paper's), seen or unseen (seeded choice per record from that split of the bank), all, or a verbalization id such as repeat/copy."""
    template_bank: str | None = None
    """A steps.json-style verbalization bank to use instead of the bundled one."""
    include_original: bool = True
    """Keep the original records next to the sequential ones (the paper's training mixture)."""
    field_map: dict[str, str] = field(default_factory=dict)
    """Column names of the input data, e.g. {instruction: prompt, output: completion, input: context, id: uid}."""
    hf_split: str = "train"
    """Split to read from Hugging Face datasets."""
    lang: str = "en"
    """Language of the records in `inputs`."""
    parallel: list[str] = field(default_factory=list)
    """Aligned parallel files, one JSON object per line: {id, en: {...}, <lang>: {...}}; their non-English records get translate-then-answer."""
    parallel_english: str | None = None
    """English file aligned by index with every file of `parallel_aligned` (the per-language-file layout)."""
    parallel_aligned: list[str] = field(default_factory=list)
    """Non-English Alpaca files aligned by index with `parallel_english` (language from `parallel_langs` or the file name)."""
    parallel_langs: list[str] = field(default_factory=list)
    """Language codes of `parallel_aligned`, in the same order (default: guessed from the file names, e.g. data.de.json)."""
    parallel_steps: list[str] = field(default_factory=lambda: ["translate"])
    """Steps for the non-English records of parallel data (the paper: translate then answer)."""
    captions: str | None = None
    """COCO-style caption annotations (captions_*.json) or LLaVA caption JSONL, for the caption step."""
    mix: dict[str, float] = field(default_factory=dict)
    """Sampling per group 'kind/lang' (kind: sequential|original|*; lang or *): a count (>= 1) or a fraction (< 1), e.g. {sequential/zh: 4750}. Groups not named are kept whole."""
    shuffle: bool = False
    """Shuffle the output (seeded). Implied when `mix` is set."""
    provider: str = "openai"
    """Where generated step text (paraphrase, translate without parallel data) comes from: openai (any OpenAI-compatible server) or local_hf."""
    provider_model: str = ""
    """Model name sent to the provider (served model name, or a local model path / hub id for local_hf)."""
    provider_base_url: str = "https://api.openai.com/v1"
    """Base URL of the OpenAI-compatible server (vLLM, TGI, SGLang, OpenAI), e.g. http://127.0.0.1:8000/v1."""
    provider_api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (the key itself is never logged or saved)."""
    provider_concurrency: int = 8
    """Requests in flight at once."""
    provider_max_retries: int = 5
    """Retries per request on 429, 5xx, timeouts and malformed answers."""
    provider_timeout: float = 60.0
    """Seconds to wait for one answer."""
    provider_cache: str | None = None
    """Disk cache of provider answers (default: OUTPUT with suffix .cache.jsonl); a re-run never asks twice."""
    provider_options: dict[str, Any] = field(default_factory=dict)
    """Provider-specific options, e.g. {batch_size: 16, device: cuda, adapter: runs/x/model} for local_hf."""
    temperature: float = 0.0
    """Sampling temperature of provider requests."""
    max_tokens: int = 512
    """Maximum tokens of one provider answer."""
    paraphrase_prompt: str = "Paraphrase the input sentence given by user."
    """System prompt of paraphrase requests (the paper's); the input is the user message."""
    translate_prompt: str = "Translate the input given by user into English. Reply with the translation only."
    """System prompt of translate requests when no parallel data gives the English input."""
    chunk_size: int = 4096
    """Records read and sent to the provider at a time (bounds memory)."""

    def validate(self) -> None:
        if not self.output:
            raise ConfigError("augment: 'output' is required (--output OUT.jsonl)")
        if not (self.inputs or self.parallel or self.parallel_aligned):
            raise ConfigError("augment: give at least one input file, dataset, or parallel file")
        if self.parallel_aligned and not self.parallel_english:
            raise ConfigError(
                "augment: 'parallel_aligned' needs 'parallel_english' (the English file they align with)"
            )
        if self.parallel_langs and len(self.parallel_langs) != len(self.parallel_aligned):
            raise ConfigError("augment: 'parallel_langs' needs one language per file of 'parallel_aligned'")
        if self.provider_concurrency < 1 or self.chunk_size < 1 or self.provider_max_retries < 0:
            raise ConfigError(
                "augment: provider_concurrency and chunk_size must be >= 1, provider_max_retries >= 0"
            )
        for key, value in self.mix.items():
            if key.count("/") != 1 or value < 0 or (value >= 1 and value != int(value)):
                raise ConfigError(
                    f"augment: mix entry '{key}: {value}' must be 'kind/lang': count or fraction < 1"
                )
        output = Path(self.output)
        if output.suffix not in (".jsonl", ".gz"):
            raise ConfigError(f"augment: output '{self.output}' should be a .jsonl (or .jsonl.gz) file")

    @property
    def cache_path(self) -> Path:
        if self.provider_cache:
            return Path(self.provider_cache)
        output = Path(self.output)
        stem = output.name.removesuffix(".gz").removesuffix(".jsonl")
        return output.with_name(f"{stem}.cache.jsonl")
