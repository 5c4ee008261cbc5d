"""Training examples: records → prompt/completion text → token ids and labels.

`build_example` is the ONE place that decides which tokens are ignored in the loss. The prompt and the completion
are tokenized separately and concatenated, so the model is trained on exactly the prompt tokens it will see at
generation time (the prompt is tokenized alone there too) and the mask boundary never splits a merged token.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from seqtune.errors import ConfigError, RecordError
from seqtune.prompts import PromptTemplate
from seqtune.records import ErrorPolicy, iter_json_records, require_str

IGNORE_INDEX = -100  # the label value torch's cross-entropy (and transformers) skips
# A token spans about 4 characters of English text and rarely more than 8, so a text is tokenized from a prefix of
# this many characters per token needed: a 50 MB record then costs what a short one does (not gigabytes).
CHARS_PER_TOKEN = 8


@dataclass(frozen=True)
class PromptCompletion:
    prompt: str
    completion: str


@dataclass
class TokenizedSplit:
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.input_ids)


def read_pairs(
    path: str | Path, template: PromptTemplate, tokenizer, policy: ErrorPolicy
) -> list[PromptCompletion]:
    """Alpaca-format or sequential records → prompt (rendered template) and completion (the `output`)."""
    source = str(path)
    pairs = []
    for location, record in iter_json_records(path, policy):
        try:
            instruction = require_str(record, "instruction", source, location)
            input_text = require_str(record, "input", source, location, allow_missing=True)
            output = require_str(record, "output", source, location)
        except RecordError as error:
            policy.handle(error)
            continue
        pairs.append(PromptCompletion(template.render(instruction, input_text, tokenizer), output))
    return pairs


def split_dev(pairs: list, dev_size: int, seed: int) -> tuple[list, list]:
    """A seeded random hold-out of `dev_size` items; the rest keep their file order."""
    if dev_size <= 0:
        return pairs, []
    if dev_size >= len(pairs):
        raise ConfigError(f"dev_size ({dev_size}) must be smaller than the number of records ({len(pairs)})")
    dev_indices = set(random.Random(seed).sample(range(len(pairs)), dev_size))
    train = [p for i, p in enumerate(pairs) if i not in dev_indices]
    dev = [p for i, p in enumerate(pairs) if i in dev_indices]
    return train, dev


def build_example(
    prompt_ids: list[int],
    completion_ids: list[int],
    eos_id: int,
    *,
    cutoff_len: int,
    train_on_inputs: bool,
    placeholders: list[int] = (),
) -> tuple[list[int], list[int]] | None:
    """input_ids and labels for one example, or None when no completion token survives the cutoff.

    The sequence is `placeholders` + prompt + completion + EOS (so trained models learn to stop), its text cut to
    `cutoff_len` tokens from the end. Labels are the input ids with the prompt positions set to IGNORE_INDEX,
    unless `train_on_inputs`. `placeholders` (an image's `<image>` tokens, which the model replaces with image
    features) are never scored and never cut.
    """
    input_ids = (prompt_ids + completion_ids + [eos_id])[:cutoff_len]
    n_prompt = min(len(prompt_ids), len(input_ids))
    if n_prompt == len(input_ids):
        return None
    labels = list(input_ids) if train_on_inputs else [IGNORE_INDEX] * n_prompt + input_ids[n_prompt:]
    return list(placeholders) + input_ids, [IGNORE_INDEX] * len(placeholders) + labels


def tokenize_pairs(
    pairs: list[PromptCompletion],
    tokenizer,
    *,
    cutoff_len: int,
    train_on_inputs: bool,
    add_special_tokens: bool,
    batch_size: int = 1000,
) -> TokenizedSplit:
    """Tokenize in batches with the fast (Rust, multi-threaded) tokenizer; then mask with `build_example`.

    `add_special_tokens` applies to the prompt (e.g. Llama's BOS); it is off for chat templates, whose rendered
    text already holds them. The completion never gets special tokens besides the EOS appended here.
    """
    split = TokenizedSplit()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        prompts = leading_token_ids(tokenizer, [p.prompt for p in chunk], cutoff_len, add_special_tokens)
        completions = leading_token_ids(tokenizer, [p.completion for p in chunk], cutoff_len, False)
        for prompt_ids, completion_ids in zip(prompts, completions, strict=True):
            example = build_example(
                prompt_ids,
                completion_ids,
                tokenizer.eos_token_id,
                cutoff_len=cutoff_len,
                train_on_inputs=train_on_inputs,
            )
            if example is None:
                split.dropped["prompt_reaches_cutoff"] += 1
                continue
            split.input_ids.append(example[0])
            split.labels.append(example[1])
    return split


def leading_token_ids(tokenizer, texts: list[str], needed: int, add_special_tokens: bool) -> list[list[int]]:
    """Token ids of each text, exact for at least its first `needed` tokens (an example never holds more).

    A text longer than `needed` × CHARS_PER_TOKEN characters is tokenized from a prefix of that length. Tokens near
    the cut may differ from the whole text's (a merge across the cut is lost), so a prefix counts only when it gives
    twice the tokens needed; otherwise it is doubled, up to the whole text.
    """
    limit = needed * CHARS_PER_TOKEN
    ids = tokenizer([text[:limit] for text in texts], add_special_tokens=add_special_tokens)["input_ids"]
    for index, text in enumerate(texts):
        cut = limit
        while len(text) > cut and len(ids[index]) < 2 * needed:
            cut *= 2
            ids[index] = tokenizer(text[:cut], add_special_tokens=add_special_tokens)["input_ids"]
    return ids


def to_dataset(split: TokenizedSplit):
    """A `datasets.Dataset` with input_ids and labels: TRL sees it as already processed and keeps our labels."""
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": split.input_ids, "labels": split.labels})
