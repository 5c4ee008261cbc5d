"""A multilingual instruction set built from English records with a translation model, as the paper built its
multilingual Alpaca (English → de, zh, ru, es with an open-source translator).

Each English record becomes one record per target language: the instruction kept in English (as the paper did),
input and output machine-translated, the English input kept as the target of the translate step and the source
record's id as the pair id (so languages can draw disjoint source records, as with parallel data). Texts are
translated line by line (translation models are trained on sentences; the line breaks are kept), each distinct line
once per chunk, through the model's answer cache, so a re-run after a kill translates only what is missing. A record
one of whose lines could not be translated (failed, empty, or cut off by the token limit) is never kept: it is a
RecordError with reason mt_<failure>, which the error policy counts (skip) or reports (fail).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from seqtune.data.instructions import InstructionRecord
from seqtune.errors import RecordError
from seqtune.lm.base import LM, Completion, Decoding, Request
from seqtune.records import ErrorPolicy


def iter_machine_translated(
    records: Iterator[InstructionRecord],
    lang: str,
    translator: LM,
    policy: ErrorPolicy,
    *,
    max_new_tokens: int,
    chunk_size: int,
) -> Iterator[InstructionRecord]:
    """The `lang` version of each English record (records whose translation failed are handled by `policy`)."""
    decoding = Decoding(max_new_tokens=max_new_tokens)
    while chunk := list(itertools.islice(records, chunk_size)):
        lines = list(
            dict.fromkeys(line for r in chunk for text in (r.input, r.output) for line in _lines(text))
        )
        answers = translator.complete(
            [Request(prompt=line, decoding=decoding) for line in lines], desc=f"translate into {lang}"
        )
        translated = dict(zip(lines, answers, strict=True))
        for record in chunk:
            try:
                yield InstructionRecord(
                    id=f"{lang}-{record.id}",
                    instruction=record.instruction,  # the paper keeps the English instruction
                    input=_translate(record.input, translated, record, lang, "input"),
                    output=_translate(record.output, translated, record, lang, "output"),
                    lang=lang,
                    image=record.image,
                    english_input=record.input,
                    english_instruction=record.instruction,
                    pair_id=f"id {record.id}",
                    origin=record.origin,
                )
            except RecordError as error:
                policy.handle(error)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _translate(
    text: str, translated: dict[str, Completion], record: InstructionRecord, lang: str, field: str
) -> str:
    out = []
    for line in text.split("\n"):
        if not line.strip():
            out.append(line)
            continue
        answer = translated[line.strip()]
        if not answer.ok:
            raise RecordError(
                record.origin or record.id,
                "",
                f"mt_{answer.failure or 'failed'}",
                f"translation into {lang} unusable ({answer.error}): {line.strip()[:60]!r}",
                field=field,
            )
        out.append(answer.text)
    return "\n".join(out)
