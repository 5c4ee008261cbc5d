"""Reading and writing the JSON files that pass between stages.

Readers stream JSONL (one record at a time) and accept JSON arrays, either gzipped. A UTF-8 byte-order mark is
accepted. Every problem is a RecordError naming the file, the line (JSONL) or record index (JSON array) and the
field; an ErrorPolicy decides whether it stops the run (`fail`) or is counted and skipped (`skip`).
Writers are atomic: a temporary file in the target folder, fsync, then rename — a failed stage leaves nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from seqtune.errors import RecordError, SeqtuneError

ON_ERROR_CHOICES = ("fail", "skip")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class ErrorPolicy:
    """`fail`: raise the first RecordError. `skip`: count it by reason and go on."""

    def __init__(self, mode: str = "fail"):
        if mode not in ON_ERROR_CHOICES:
            raise SeqtuneError(f"on_error must be one of {ON_ERROR_CHOICES}, got '{mode}'")
        self.mode = mode
        self.skipped: Counter[str] = Counter()
        self.first_errors: list[str] = []

    def handle(self, error: RecordError) -> None:
        if self.mode == "fail":
            raise error
        self.skipped[error.reason] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(str(error))


def _open_binary(path: Path) -> IO[bytes]:
    if not path.exists():
        raise SeqtuneError(f"{path}: no such file")
    if path.is_dir():
        raise SeqtuneError(f"{path}: is a folder, expected a JSON or JSONL file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _is_jsonl(path: Path) -> bool:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith(".jsonl")


def _decode(raw: bytes, source: str, location: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(
            source, location, "invalid_utf8", f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None


def read_json(path: str | Path) -> Any:
    """A whole JSON document (e.g. a SQuAD or COCO annotation file), gzipped or not."""
    path = Path(path)
    with _open_binary(path) as handle:
        text = _decode(handle.read(), str(path), "")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeqtuneError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def iter_json_records(path: str | Path, policy: ErrorPolicy | None = None) -> Iterator[tuple[str, dict]]:
    """Yield (location, record) for every JSON object in a .json array or .jsonl file (optionally .gz).

    location is "line N" for JSONL and "record N" (0-based index) for a JSON array. Lines that are blank are
    ignored. A file with no records at all is an error, whatever the policy: it is almost always a wrong path.
    """
    path = Path(path)
    policy = policy or ErrorPolicy("fail")
    source = str(path)
    produced = 0
    if _is_jsonl(path):
        with _open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                location = f"line {number}"
                try:
                    text = _decode(raw, source, location)
                    if not text.strip():
                        continue
                    record = _parse_object(text, source, location)
                except RecordError as error:
                    produced += 1
                    policy.handle(error)
                    continue
                produced += 1
                yield location, record
    else:
        document = read_json(path)
        if not isinstance(document, list):
            raise SeqtuneError(
                f"{path}: expected a JSON array of records (or use .jsonl for one record per line)"
            )
        for index, record in enumerate(document):
            produced += 1
            location = f"record {index}"
            if not isinstance(record, dict):
                policy.handle(
                    RecordError(
                        source,
                        location,
                        "not_an_object",
                        f"expected a JSON object, got {type(record).__name__}",
                    )
                )
                continue
            yield location, record
    if produced == 0:
        raise SeqtuneError(f"{path}: the file holds no records")


def usual_mode(*, directory: bool) -> int:
    """The mode a new file or folder gets under the process umask (temporary ones are created private)."""
    return (0o777 if directory else 0o666) & ~_UMASK


def looks_like_path(source: str) -> bool:
    """A source written as a path (not an `owner/name` hub id): a missing one is a typo, not a hub request."""
    return (
        source.startswith((".", "/", "~"))
        or source.endswith((".json", ".jsonl", ".gz"))
        or source.count("/") > 1
    )


def record_position(location: str) -> int:
    """0-based position of a record from its location ("line 3" → 2, "record 2" → 2), so that files of
    either format can be paired by position even when some records were skipped."""
    kind, number = location.split(" ", 1)
    return int(number) - 1 if kind == "line" else int(number)


def _parse_object(text: str, source: str, location: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(
            source, location, "invalid_json", f"invalid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise RecordError(
            source, location, "not_an_object", f"expected a JSON object, got {type(value).__name__}"
        )
    return value


def require_str(record: dict, field: str, source: str, location: str, *, allow_missing: bool = False) -> str:
    """The string value of `field`, or a RecordError (missing / not a string)."""
    if field not in record or record[field] is None:
        if allow_missing:
            return ""
        raise RecordError(source, location, "missing_field", "missing", field=field)
    value = record[field]
    if not isinstance(value, str):
        raise RecordError(
            source, location, "wrong_type", f"expected a string, got {type(value).__name__}", field=field
        )
    return value


def dumps_record(record: dict) -> str:
    """One JSONL line. Key order is the insertion order, so equal inputs give byte-identical files."""
    return json.dumps(record, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def atomic_write(path: str | Path, *, binary: bool = False) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed.

    A `.gz` path is gzip-compressed with a zero timestamp so that equal content gives equal bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with contextlib.ExitStack() as stack:
            stream: IO = stack.enter_context(os.fdopen(fd, "wb"))
            if path.suffix == ".gz":
                stream = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0))
            if not binary:
                stream = stack.enter_context(io.TextIOWrapper(stream, encoding="utf-8", newline="\n"))
            yield stream
        with open(tmp_name, "rb") as written:  # on disk before it takes the final name
            os.fsync(written.fileno())
        os.chmod(tmp_name, usual_mode(directory=False))  # mkstemp makes 0600 files
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records atomically; returns how many were written."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(dumps_record(record))
            count += 1
    return count


def write_json(path: str | Path, value: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(value, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
