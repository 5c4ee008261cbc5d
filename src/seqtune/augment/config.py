"""Configuration of `seqtune augment` (field docstrings are the --help text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from seqtune.config import Range
from seqtune.errors import ConfigError
from seqtune.layout import answer_cache, manifest_path, refuse_output_that_is_input
from seqtune.lm.settings import LMSettings


@dataclass
class AugmentConfig(LMSettings):
    """The model settings (backend, model, base_url, api_key_env, concurrency, ...) are the shared LMSettings: the
    model that writes generated step text (paraphrase, translate without parallel data)."""

    inputs: list[str] = field(default_factory=list)
    """Instruction data: Alpaca .json/.jsonl files (optionally .gz), local Hugging Face dataset folders, or hub ids."""
    output: str = ""
    """Output JSONL file of sequential (and original) records; its manifest (OUTPUT.manifest.json) is written beside it."""
    steps: list[str] | None = None
    """Intermediate steps, in order, for the records of `inputs`: repeat, paraphrase, translate, caption; [] for none (originals only). Default [repeat]; required when parallel data is given, so that English records get only the steps asked for."""
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
    parallel_instruction: Literal["english", "native"] = "english"
    """Instruction of the sequential records of parallel data: english (the paper keeps the English instruction whatever the input and output language) or native (the translated one). Original records keep the translated one."""
    parallel_disjoint: bool = True
    """Languages sampled by `mix` draw disjoint source records: a parallel record (by its shared id or position) sampled for zh is not sampled for de."""
    translate_to: list[str] = field(default_factory=list)
    """Languages to machine-translate the English records of `inputs` into, building the multilingual set as the paper did: instruction kept in English, input and output translated by `mt_model`; the translated records get `parallel_steps` (translate-then-answer) like parallel data, and a record whose translation failed or was cut off is skipped and counted (mt_failed, mt_empty, mt_truncated)."""
    mt_model: str = ""
    """The translation model of `translate_to`: a seq2seq model folder or hub id (MarianMT, NLLB, M2M100); '{lang}' in it is replaced by each target language (one Marian model per pair, e.g. Helsinki-NLP/opus-mt-en-{lang}). It runs with batch_size, device and dtype, and shares the answer cache."""
    mt_lang_codes: dict[str, str] = field(default_factory=dict)
    """The translation model's code for each language, e.g. {en: eng_Latn, de: deu_Latn} for NLLB; a language not named is its own code."""
    captions: str | None = None
    """Captions by COCO image id, for the caption step and `vqa`: COCO caption annotations (captions_*.json), LLaVA caption JSONL, the Karpathy split file (dataset_coco.json) or LAVIS' Karpathy files."""
    caption_split: str | None = None
    """Karpathy split file only: keep the captions of this split (train, val, test, restval); unset: all."""
    vqa: list[str] = field(default_factory=list)
    """VQAv2 training data: a folder holding the official questions and annotations files, or a LAVIS-style vqa_train.json. Each question gives an IT record (the paper's "Answer the input question based on the image", kind original) and, when its image has a caption in `captions`, a SIT record ("First describe the image, then ..."; output: caption, newline, answer). Target answer and caption are seeded (docs/multimodal.md)."""
    vqa_sample: Annotated[int, Range(ge=0)] = 0
    """Questions drawn (seeded) from `vqa` before records are built, kept in source order; 0: every question."""
    image_root: str | None = None
    """Folder the images of `vqa` are under (COCO file names, e.g. train2014/COCO_train2014_000000000009.jpg). Each image is checked: a missing or unreadable one is an error naming the file, or with on_error=skip is left out and counted. A record's `image` is the image's path under this folder, as `seqtune train` opens it."""
    mix: dict[str, float] = field(default_factory=dict)
    """Sampling per group 'kind/lang' (kind: sequential|original|*; lang or *): a count (>= 1) or a fraction (< 1), e.g. {sequential/zh: 4750}. Groups not named are kept whole."""
    shuffle: bool = False
    """Shuffle the output (seeded). Implied when `mix` is set."""
    temperature: Annotated[float, Range(ge=0)] = 0.0
    """Sampling temperature of the model's answers (paraphrase, translate)."""
    max_new_tokens: Annotated[int, Range(ge=1)] = 512
    """Most tokens of one model answer; an answer cut off there is never used (counted as model_truncated)."""
    paraphrase_prompt: str = "Paraphrase the input sentence given by user."
    """System prompt of paraphrase requests (the paper's); the input is the user message."""
    translate_prompt: str = "Translate the input given by user into English. Reply with the translation only."
    """System prompt of translate requests when no parallel data gives the English input."""
    chunk_size: Annotated[int, Range(ge=1)] = 4096
    """Records read and sent to the model at a time (bounds memory)."""

    def validate(self) -> None:
        if not self.output:
            raise ConfigError("augment: 'output' is required (--output OUT.jsonl)")
        if not (self.inputs or self.parallel or self.parallel_aligned or self.vqa):
            raise ConfigError("augment: give at least one input file, dataset, parallel file or VQA source")
        self._validate_vqa()
        has_parallel = bool(self.parallel or self.parallel_aligned or self.translate_to)
        if self.steps is None:
            if self.inputs and has_parallel:
                raise ConfigError(
                    "augment: with parallel data, name the steps for the records of `inputs` "
                    "(--steps repeat, or --steps '[]' to keep them as originals only)"
                )
            self.steps = ["repeat"]
        if self.translate_to and not self.mt_model:
            raise ConfigError(
                "augment: 'translate_to' needs 'mt_model' (a translation model folder or hub id)"
            )
        if self.translate_to and self.lang != "en":
            raise ConfigError(f"augment: 'translate_to' translates English records; lang is '{self.lang}'")
        if self.parallel_aligned and not self.parallel_english:
            raise ConfigError(
                "augment: 'parallel_aligned' needs 'parallel_english' (the English file they align with)"
            )
        if self.parallel_langs and len(self.parallel_langs) != len(self.parallel_aligned):
            raise ConfigError("augment: 'parallel_langs' needs one language per file of 'parallel_aligned'")
        # numbers' ranges are in the annotations; NaN and infinity never get here (config.coerce refuses them)
        for key, value in self.mix.items():
            if key.count("/") != 1 or value < 0 or (value >= 1 and value != int(value)):
                raise ConfigError(
                    f"augment: mix entry '{key}: {value}' must be 'kind/lang': count or fraction < 1"
                )
        output = Path(self.output)
        if output.suffix not in (".jsonl", ".gz"):
            raise ConfigError(f"augment: output '{self.output}' should be a .jsonl (or .jsonl.gz) file")
        self.validate_lm(allowed=("hf", "openai"))
        for written in (self.output, self.answer_cache, manifest_path(self.output)):
            refuse_output_that_is_input(written, self.input_files)
        if self.answer_cache.resolve() == output.resolve():
            raise ConfigError(f"augment: cache_path {self.answer_cache} is the output; name another file")

    def _validate_vqa(self) -> None:
        if not self.vqa:
            return
        if not self.image_root:
            raise ConfigError("augment: 'vqa' needs 'image_root' (the folder of the COCO images)")
        # VQA records are built by seqtune.data.vqa.instruction_records, in the paper's form only
        if self.verbalization != "paper" or self.output_format != "newline":
            raise ConfigError(
                "augment: VQA records use the paper's phrasing and output (verbalization: paper, "
                "output_format: newline)"
            )

    @property
    def input_files(self) -> list[str]:
        """Every file the run reads (hashed into the manifest; never overwritten)."""
        return [
            *self.inputs,
            *self.parallel,
            *self.parallel_aligned,
            *self.vqa,
            *filter(None, [self.parallel_english, self.captions, self.template_bank]),
        ]  # not image_root: the images (COCO train2014: 13 GB) are checked, not hashed

    @property
    def answer_cache(self) -> Path:
        """The model's answer cache: `cache_path`, else OUTPUT with the suffix .cache.sqlite."""
        return answer_cache(self.output, self.cache_path)
