"""What the visual question answering tasks (vqav2, gqa) share.

Prompt variants: `plain` ("Answer the input question based on the image"), `caption` (describe-then-answer:
"First describe the image, then answer …"), `caption-unseen` (an unseen phrasing of the caption step) and
`-neg` forms (SIT (neg.): a caption of ANOTHER image, drawn from `task_options.captions` by a seeded hash of the
example id, is forced as the start of the response).

The input shown to the model is the question; the image travels in the prediction (`image`: its path under
`task_options.image_root` when given, else its file name), so that responses of another system can be scored
without the images. The caption step has no single expected text ("" in `expected`, so the response is split
at the answer, not by overlap with one reference); its ROUGE-L is the best over all reference captions of the
image (`meta.captions`, from `task_options.captions`), as captioning is scored against several references.

Answer: the span `seqtune.metrics.answers.extract_span` reads from the answer part, then cut to a short answer:
its first sentence, and "yes"/"no" when it opens with one that a comma or a pronoun follows ("Yes, there is" →
"yes"). Nothing else is rewritten: "There are two squares" stays a sentence, as the official evaluation would
see it.
"""

from __future__ import annotations

import bisect
from collections import Counter
from pathlib import Path
from typing import Any

import regex

from seqtune.data.vqa import (
    IT_INSTRUCTION,
    VQARecord,
    check_images,
    read_captions,
    target_caption,
)
from seqtune.errors import ConfigError
from seqtune.metrics.answers import NO_ANSWER, Extraction, extract_span
from seqtune.metrics.rouge import rouge_l
from seqtune.metrics.vqa import normalize_answer
from seqtune.records import seeded_index
from seqtune.sequential import Analysis
from seqtune.tasks.base import Example, PromptSpec, Task

CAPTION_CHAIN = "caption"
_SENTENCE_END = regex.compile(r"(?<=[.!?])\s+")
_YES_NO = regex.compile(
    r"(?i)^(yes|no)(?:\s*[,.;:!]|\s+(?:there|it|they|he|she|this|that|these|those|i|we|you)\b|\s*$)"
)


def short_answer(text: str) -> str:
    """The first sentence of an answer span; "yes"/"no" for one that opens with it (module docstring)."""
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].rstrip(".")
    match = _YES_NO.match(first)
    return match.group(1).lower() if match else first


class VisionTask(Task):
    instruction = IT_INSTRUCTION
    chains = ("plain", CAPTION_CHAIN)
    options = ("on_error", "captions", "caption_split", "image_root")

    def __init__(self) -> None:
        super().__init__()
        self.captions: dict[int, list[str]] = {}
        self.caption_ids: list[int] = []
        self.skipped: Counter[str] = Counter()
        """Questions left out because their image is missing or unreadable (with on_error=skip)."""
        self.image_root: str | None = None

    # ---- loading ----

    def examples_of(self, records: list[VQARecord], options: dict[str, Any]) -> list[Example]:
        """Examples from the records: captions read, images checked when an image root is given."""
        if options.get("captions"):
            self.captions = read_captions(options["captions"], options.get("caption_split"))
            self.caption_ids = sorted(self.captions)
        self.image_root = options.get("image_root")
        if self.image_root:
            records, self.skipped = check_images(records, self.image_root, options.get("on_error", "fail"))
        examples = []
        for record in records:
            meta: dict[str, Any] = {"image": record.image, "image_id": record.image_id}
            if record.answer_type:
                meta["answer_type"] = record.answer_type
            references = self.captions.get(record.image_id) if isinstance(record.image_id, int) else None
            if references:
                meta["captions"] = references
            examples.append(Example(record.question_id, record.question, record.answers, "en", meta))
        return examples

    # ---- prompting ----

    def negative_prefix(self, example: Example, step: str) -> str:
        """A caption of another image (not this example's), drawn by a seeded hash of the example id."""
        # a draw among the sorted ids without this image's own (sorted once, not per example)
        ids, own = self.caption_ids, example.meta.get("image_id")
        skip = own in self.captions
        if len(ids) - skip < 1:
            raise ConfigError(
                f"task '{self.name}': the -neg variants need task_options.captions with captions of other images"
            )
        index = seeded_index(self.neg_seed, f"neg:{example.id}", len(ids) - skip)
        if skip and index >= bisect.bisect_left(ids, own):
            index += 1
        image_id = ids[index]
        return target_caption(self.captions[image_id], image_id, self.neg_seed)

    def prediction_fields(self, example: Example, spec: PromptSpec) -> dict[str, Any]:
        fields = super().prediction_fields(example, spec)
        image = example.meta["image"]
        fields["image"] = str(Path(self.image_root) / image) if self.image_root else image
        return fields

    # ---- scoring ----

    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        extraction = extract_span(lines)
        if extraction.answer is None:
            return extraction
        answer = short_answer(extraction.answer)
        if not normalize_answer(answer):
            return NO_ANSWER  # only punctuation or articles
        return Extraction(answer, extraction.rule, True)

    def extra_metrics(self, analysis: Analysis, extraction: Extraction, prediction: dict) -> dict:
        """The caption step's ROUGE-L F: the best over the image's reference captions (None without them)."""
        references = (prediction.get("meta") or {}).get("captions") or []
        steps = prediction.get("steps") or []
        return {
            "rouge_l": [
                max(rouge_l(reference, segment).fmeasure for reference in references)
                if step == CAPTION_CHAIN and references
                else None
                for step, segment in zip(steps, analysis.segments, strict=True)
            ]
        }
