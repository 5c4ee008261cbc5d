"""Configuration of `seqtune seqinstruct` (field docstrings are the --help text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from seqtune.config import Range
from seqtune.errors import ConfigError
from seqtune.layout import answer_cache, manifest_path, refuse_output_that_is_input
from seqtune.lm.settings import LMSettings
from seqtune.records import looks_like_path


@dataclass
class SeqInstructConfig(LMSettings):
    """The model settings (backend, model, base_url, api_key_env, concurrency, ...) are the shared LMSettings: the
    one model that classifies, rewrites and answers."""

    inputs: list[str] = field(default_factory=list)
    """Instruction data: Alpaca .json/.jsonl files (optionally .gz), local Hugging Face dataset folders, or hub ids."""
    output: str = ""
    """Output JSONL file: every record with its final (sequential or kept) instruction and the model's response; its manifest (OUTPUT.manifest.json) is written beside it."""
    it_output: str = ""
    """Also answer the ORIGINAL instructions with the same model and write them to this JSONL file: the IT control, which differs from `output` only in the instructions. Empty = not made."""
    rounds: Annotated[int, Range(ge=1)] = 2
    """Rounds of classify + rewrite; round k+1 reconsiders only the records rewritten in round k."""
    classify_prompt: str | None = None
    """Text file of the classification prompt ({instruction}, {input}); empty = the bundled one."""
    decompose_prompt: str | None = None
    """Text file of the rewrite prompt of operation A, decompose ({instruction}, {input}); empty = the bundled one."""
    prefix_prompt: str | None = None
    """Text file of the rewrite prompt of operation B, add a prefix task ({instruction}, {input}); empty = the bundled one."""
    suffix_prompt: str | None = None
    """Text file of the rewrite prompt of operation C, add a suffix task ({instruction}, {input}); empty = the bundled one."""
    respond_prompt: str | None = None
    """Text file of the response request ({instruction}, {input}); empty = the bundled one (the instruction, a blank line, the input)."""
    classify_temperature: Annotated[float, Range(ge=0)] = 0.0
    """Sampling temperature of the classification (the method: 0, greedy)."""
    rewrite_temperature: Annotated[float, Range(ge=0)] = 1.0
    """Sampling temperature of the rewrite (the method: 1.0)."""
    rewrite_top_p: Annotated[float, Range(gt=0, le=1)] = 0.9
    """Nucleus sampling of the rewrite (the method: 0.9)."""
    respond_temperature: Annotated[float, Range(ge=0)] = 0.0
    """Sampling temperature of the responses (0 = greedy)."""
    respond_top_p: Annotated[float, Range(gt=0, le=1)] = 1.0
    """Nucleus sampling of the responses (used when respond_temperature > 0)."""
    max_new_tokens: Annotated[int, Range(ge=1)] = 1024
    """Most tokens of one model reply; a reply cut off there is never used (counted as truncated)."""
    seed: int = 0
    """Sampling seed sent with sampled requests (rewrites; responses when sampled)."""
    on_error: Literal["fail", "skip"] = "fail"
    """fail: stop at the first bad input record; skip: skip bad input records and count them by reason."""
    field_map: dict[str, str] = field(default_factory=dict)
    """Column names of the input data, e.g. {instruction: prompt, output: completion, input: context, id: uid}."""
    hf_split: str = "train"
    """Split to read from Hugging Face datasets."""
    lang: str = "en"
    """Language of the records in `inputs`."""
    chunk_size: Annotated[int, Range(ge=1)] = 4096
    """Records read and taken through every round at a time (bounds memory)."""

    def validate(self) -> None:
        from seqtune.seqinstruct.prompts import load_prompts

        if not self.inputs:
            raise ConfigError("seqinstruct: give at least one input file or dataset")
        for spec in self.inputs:
            if looks_like_path(spec) and not Path(spec).exists():
                raise ConfigError(f"seqinstruct: no such input file: {spec}")
        if not self.output:
            raise ConfigError("seqinstruct: 'output' is required (--output OUT.jsonl)")
        if not self.model:
            raise ConfigError("seqinstruct: 'model' is required (--model, with --backend and --base-url)")
        written = [self.output, *([self.it_output] if self.it_output else [])]
        for path in written:
            if Path(path).suffix not in (".jsonl", ".gz"):
                raise ConfigError(f"seqinstruct: output '{path}' should be a .jsonl (or .jsonl.gz) file")
        if self.it_output and Path(self.it_output).resolve() == Path(self.output).resolve():
            raise ConfigError("seqinstruct: it_output is the output; name another file")
        self.validate_lm(allowed=("hf", "openai"))
        load_prompts(self)  # a missing or unusable prompt file is refused before anything is read
        for path in (*written, *map(manifest_path, written), self.answer_cache):
            refuse_output_that_is_input(path, self.input_files)
        if self.answer_cache.resolve() in {Path(path).resolve() for path in written}:
            raise ConfigError(f"seqinstruct: cache_path {self.answer_cache} is an output; name another file")

    @property
    def prompt_files(self) -> dict[str, str | None]:
        """The user's prompt file per prompt name (None = the bundled one)."""
        return {
            "classify": self.classify_prompt,
            "decompose": self.decompose_prompt,
            "prefix": self.prefix_prompt,
            "suffix": self.suffix_prompt,
            "respond": self.respond_prompt,
        }

    @property
    def input_files(self) -> list[str]:
        """Every file the run reads (hashed into the manifest; never overwritten)."""
        return [*self.inputs, *filter(None, self.prompt_files.values())]

    @property
    def answer_cache(self) -> Path:
        """The model's answer cache: `cache_path`, else OUTPUT with the suffix .cache.sqlite."""
        return answer_cache(self.output, self.cache_path)
