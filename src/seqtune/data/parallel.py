"""Aligned English/other-language instruction data for translate-then-answer.

Two layouts: one JSONL file whose lines hold both sides (`{"id", "en": {...}, "zh": {...}}`, as in
../shared/data/alpaca_parallel and the bundled sample), or separate per-language files aligned by position (the
public multilingual Alpaca releases). Either way the result is the non-English record with its English input and
instruction set, and a `pair_id` shared by every language's version of the same source record: the shared layout's
`id` (Alpaca's index in ../shared/data), or the position in the English file of the per-language layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from seqtune.data.instructions import InstructionRecord, iter_raw, to_instruction_record
from seqtune.errors import RecordError, SeqtuneError
from seqtune.records import ErrorPolicy, record_position, require_str

_LANG_IN_NAME = re.compile(r"[._-]([a-z]{2,3})(?:[._-][A-Za-z0-9]+)?\.jsonl?(?:\.gz)?$")


def iter_parallel_shared(
    path: str, policy: ErrorPolicy, lang: str | None = None
) -> Iterator[InstructionRecord]:
    """Records of the shared layout; `lang` picks the non-English side (default: the one key besides id/en)."""
    for index, (source, location, raw) in enumerate(iter_raw(path, policy)):
        try:
            yield _shared_record(raw, source, location, index, lang)
        except RecordError as error:
            policy.handle(error)


def _shared_record(raw: dict, source: str, location: str, index: int, lang: str | None) -> InstructionRecord:
    others = [key for key, value in raw.items() if key not in ("id", "en") and isinstance(value, dict)]
    side = lang or (others[0] if len(others) == 1 else None)
    if side is None:
        raise RecordError(
            source,
            location,
            "no_language_side",
            f"cannot tell the non-English side among {others or 'no keys'}; set parallel_langs",
        )
    for key in ("en", side):
        if not isinstance(raw.get(key), dict):
            raise RecordError(source, location, "missing_field", "missing or not an object", field=key)
    english_location = f"{location} (en)"
    english_input = require_str(raw["en"], "input", source, english_location, allow_missing=True)
    english_instruction = require_str(raw["en"], "instruction", source, english_location)
    record_id = raw.get("id", index)
    record = to_instruction_record(raw[side], source, f"{location} ({side})", str(record_id), lang=side)
    record.id = f"{side}-{record_id}"
    record.english_input = english_input
    record.english_instruction = english_instruction
    record.pair_id = f"id {record_id}"
    return record


def guess_lang(path: str) -> str:
    match = _LANG_IN_NAME.search(Path(path).name)
    if not match:
        raise SeqtuneError(f"{path}: cannot guess the language from the file name; set parallel_langs")
    return match.group(1)


def iter_parallel_by_position(
    english_path: str,
    other_path: str,
    lang: str,
    policy: ErrorPolicy,
    *,
    field_map: dict[str, str] | None = None,
) -> Iterator[InstructionRecord]:
    """Pair record N of `other_path` with record N of `english_path`; a record bad on either side drops the pair."""
    english = {record_position(location): raw for _, location, raw in iter_raw(english_path, policy)}
    matched = 0
    for source, location, raw in iter_raw(other_path, policy):
        index = record_position(location)
        en_raw = english.get(index)
        try:
            if en_raw is None:
                raise RecordError(
                    source, location, "unaligned", f"no English record at the same position in {english_path}"
                )
            en_record = to_instruction_record(en_raw, english_path, location, str(index), field_map=field_map)
            record = to_instruction_record(raw, source, location, str(index), field_map=field_map, lang=lang)
        except RecordError as error:
            policy.handle(error)
            continue
        matched += 1
        record.id = f"{lang}-{record.id}"
        record.english_input = en_record.input
        record.english_instruction = en_record.instruction
        record.pair_id = f"{english_path} {index}"
        yield record
    if matched and matched != len(english) and policy.mode == "fail":
        raise SeqtuneError(
            f"{other_path}: {matched} records but {english_path} has {len(english)}; files must align by position"
        )
