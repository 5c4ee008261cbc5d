"""Instruction records from Alpaca JSON/JSONL(.gz) files or Hugging Face datasets, with field mapping.

Every record is checked here: instruction and output must be strings, input may be missing (→ ""). Problems are
RecordErrors naming file, line/record and field, handled by the run's ErrorPolicy. (Text holding a lone surrogate
is refused by the readers of seqtune.records, for every command.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seqtune.errors import RecordError, SeqtuneError
from seqtune.records import ErrorPolicy, iter_json_records, record_position, require_str

FIELDS = ("instruction", "input", "output")
_FILE_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
# "<noinput>", "No input.", "`<noinput>`", "N/A" ... mean "no input" (several hundred records of the 52K file)
_NO_INPUT = re.compile(r"^[\s\"'`\\<]*(no\s*_?input|none|n/?a)[\s\"'`\\>.]*$", re.IGNORECASE)


@dataclass(slots=True)
class InstructionRecord:
    id: str
    instruction: str
    input: str
    output: str
    lang: str = "en"
    image: str | None = None
    english_input: str | None = None
    """The aligned English version of `input` (parallel data), the target of the translate step."""
    english_instruction: str | None = None
    """The aligned English instruction (parallel data): the paper keeps it in translate-then-answer records."""
    pair_id: str | None = None
    """What identifies the source record across languages (parallel data), so that languages can draw disjoint
    source records."""
    origin: str = ""
    """"file:line N" / "file:record N", for error messages."""

    @property
    def has_input(self) -> bool:
        return bool(self.input.strip()) and not _NO_INPUT.match(self.input)


def to_instruction_record(
    raw: dict,
    source: str,
    location: str,
    fallback_id: str,
    *,
    field_map: dict[str, str] | None = None,
    lang: str = "en",
) -> InstructionRecord:
    """Validate one raw record (after renaming its columns by `field_map`)."""
    names = {name: (field_map or {}).get(name, name) for name in (*FIELDS, "id", "lang", "image")}
    instruction = require_str(raw, names["instruction"], source, location)
    text_input = require_str(raw, names["input"], source, location, allow_missing=True)
    output = require_str(raw, names["output"], source, location)
    record_id = raw.get(names["id"])
    if record_id is not None and not isinstance(record_id, (str, int)):
        raise RecordError(
            source,
            location,
            "wrong_type",
            f"expected a string or integer id, got {type(record_id).__name__}",
            field=names["id"],
        )
    record_lang = raw.get(names["lang"]) or lang
    image = raw.get(names["image"])
    return InstructionRecord(
        id=fallback_id if record_id is None else str(record_id),
        instruction=instruction,
        input=text_input,
        output=output,
        lang=str(record_lang),
        image=None if image is None else str(image),
        origin=f"{source}:{location}",
    )


def is_data_file(spec: str) -> bool:
    return spec.endswith(_FILE_SUFFIXES)


def iter_raw(spec: str, policy: ErrorPolicy, *, hf_split: str = "train") -> Iterator[tuple[str, str, dict]]:
    """(source, location, raw record) from a file, a local dataset folder, or a hub id."""
    path = Path(spec)
    if path.is_file() or is_data_file(spec):
        for location, raw in iter_json_records(path, policy):
            yield spec, location, raw
        return
    if not path.is_dir() and path.exists():
        raise SeqtuneError(f"{spec}: not a file or folder")
    yield from _iter_hf(spec, hf_split)


def _iter_hf(spec: str, split: str) -> Iterator[tuple[str, str, dict]]:
    """A Hugging Face dataset: a `save_to_disk` folder, a folder of data files, or a hub id."""
    try:
        import datasets
    except ImportError:  # the light install has no `datasets`
        raise SeqtuneError(f"{spec}: reading Hugging Face datasets needs `pip install seqtune[ml]`") from None
    path = Path(spec)
    try:
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            dataset = datasets.load_from_disk(str(path))
        else:
            dataset = datasets.load_dataset(spec, split=split)
        if isinstance(dataset, datasets.DatasetDict):
            if split not in dataset:
                raise SeqtuneError(f"{spec}: no split '{split}'; it has {', '.join(dataset)}")
            dataset = dataset[split]
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise SeqtuneError(f"{spec}: cannot load as a Hugging Face dataset ({exc})") from None
    for index, raw in enumerate(dataset):
        yield spec, f"record {index}", raw


def iter_instruction_records(
    spec: str,
    policy: ErrorPolicy,
    *,
    field_map: dict[str, str] | None = None,
    lang: str = "en",
    hf_split: str = "train",
) -> Iterator[InstructionRecord]:
    """Validated records of one input; bad ones go to `policy` (raise or count)."""
    prefix = _id_prefix(spec)
    for source, location, raw in iter_raw(spec, policy, hf_split=hf_split):
        # the id of a record without one is its position in the file, so skipped records shift no other id
        fallback_id = f"{prefix}-{record_position(location)}"
        try:
            yield to_instruction_record(raw, source, location, fallback_id, field_map=field_map, lang=lang)
        except RecordError as error:
            policy.handle(error)


def _id_prefix(spec: str) -> str:
    name = Path(spec).name or spec
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name
