"""Reading and writing the JSON files that pass between stages.

Readers stream JSONL (one record at a time) and accept JSON arrays, either gzipped. A UTF-8 byte-order mark is
accepted. Every problem is a RecordError naming the file, the line (JSONL) or record index (JSON array) and the
field; an ErrorPolicy decides whether it stops the run (`fail`) or is counted and skipped (`skip`).
What every reader refuses, so that no stage meets it: text holding a lone surrogate ("\\ud800" is legal JSON but
not Unicode, and would crash the first write), NaN/Infinity and numbers out of float range (not JSON; they would
turn into nan scores), nesting deeper than Python's parser allows, and truncated or fake gzip files.
Writers are atomic: a temporary file in the target folder, fsync, then rename — a failed stage leaves nothing
(a killed one may leave its temporary file, which `remove_stale_temporaries` recognises by name).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
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


# A JSON escape of a UTF-16 surrogate: only texts that contain one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# atomic_write's temporary names: "." + target name + "." + mkstemp's 8 random characters + ".tmp"
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def _open_binary(path: Path) -> IO[bytes]:
    if not path.exists():
        raise SeqtuneError(f"{path}: no such file")
    if path.is_dir():
        raise SeqtuneError(f"{path}: is a folder, expected a JSON or JSONL file")
    try:
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as exc:
        raise SeqtuneError(f"{path}: cannot read ({exc.strerror})") from None


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[IO[bytes]]:
    """Open `path`; a damaged gzip stream (fake, truncated, corrupt) becomes one SeqtuneError naming the file."""
    try:
        with _open_binary(path) as handle:
            yield handle
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        detail = "it ends early (truncated)" if isinstance(exc, EOFError) else str(exc)
        raise SeqtuneError(f"{path}: not a readable gzip file: {detail}") from None


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


class _NotJson(ValueError):
    """A number that JSON cannot hold (NaN, Infinity, 1e999), raised from inside json.loads."""


def _reject_constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"number {text} is out of range")
    return value


def _loads(text: str, source: str, location: str) -> Any:
    """json.loads that refuses NaN/Infinity/out-of-range numbers and too deep nesting with a RecordError."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        where = location or str(exc.lineno)  # a whole document: its line number
        raise RecordError(
            source, where, "invalid_json", f"invalid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except _NotJson as exc:
        raise RecordError(source, location, "invalid_json", f"invalid JSON ({exc})") from None
    except RecursionError:
        raise RecordError(
            source, location, "too_deep", "invalid JSON (nested deeper than the JSON reader allows)"
        ) from None


def _lone_surrogate_field(value: Any) -> str | None:
    """The field path ("meta.choices.A", "steps[0].target") of the first text holding a lone surrogate.

    Iterative, because a document nested almost as deep as the parser allows would overflow a recursive walk."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "(the value)"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                child_path = f"{path}.{key}" if path else key
                if _SURROGATE.search(key):
                    return _escape_surrogates(child_path)
                pending.append((child_path, child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None


def _escape_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _check_text(value: Any, source: str, location: str) -> None:
    field = _lone_surrogate_field(value)
    if field is not None:
        raise RecordError(
            source,
            location,
            "lone_surrogate",
            "holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), which is not text",
            field=field,
        )


def _load_document(path: Path) -> tuple[Any, bool]:
    """The parsed document, and whether its text escapes a surrogate (so that its strings must be checked)."""
    with _reading(path) as handle:
        text = _decode(handle.read(), str(path), "")
    return _loads(text, str(path), ""), bool(_SURROGATE_ESCAPE.search(text))


def read_json(path: str | Path) -> Any:
    """A whole JSON document (e.g. a SQuAD or COCO annotation file), gzipped or not."""
    path = Path(path)
    document, escapes_surrogates = _load_document(path)
    if escapes_surrogates:
        _check_text(document, str(path), "")
    return document


def iter_json_records(
    path: str | Path,
    policy: ErrorPolicy | None = None,
    *,
    types: Mapping[str, type | tuple[type, ...]] | None = None,
) -> Iterator[tuple[str, dict]]:
    """Yield (location, record) for every JSON object in a .json array or .jsonl file (optionally .gz).

    location is "line N" for JSONL and "record N" (0-based index) for a JSON array. Lines that are blank are
    ignored. `types` maps optional fields to the type they must have when present and not null (e.g.
    {"meta": dict}); a record breaking it is a `wrong_type` RecordError like any other bad record.
    A file with no records at all is an error, whatever the policy: it is almost always a wrong path.
    """
    path = Path(path)
    policy = policy or ErrorPolicy("fail")
    source = str(path)
    produced = 0
    if _is_jsonl(path):
        with _reading(path) as handle:
            for number, raw in enumerate(handle, start=1):
                location = f"line {number}"
                try:
                    text = _decode(raw, source, location)
                    if not text.strip():
                        continue
                    record = _parse_object(text, source, location)
                    if _SURROGATE_ESCAPE.search(text):
                        _check_text(record, source, location)
                    _check_types(record, types, source, location)
                except RecordError as error:
                    produced += 1
                    policy.handle(error)
                    continue
                produced += 1
                yield location, record
    else:
        document, escapes_surrogates = _load_document(path)
        if not isinstance(document, list):
            raise SeqtuneError(
                f"{path}: expected a JSON array of records (or use .jsonl for one record per line)"
            )
        for index, record in enumerate(document):
            produced += 1
            location = f"record {index}"
            try:
                if not isinstance(record, dict):
                    raise RecordError(
                        source,
                        location,
                        "not_an_object",
                        f"expected a JSON object, got {type(record).__name__}",
                    )
                if escapes_surrogates:
                    _check_text(record, source, location)
                _check_types(record, types, source, location)
            except RecordError as error:
                policy.handle(error)
                continue
            yield location, record
    if produced == 0:
        raise SeqtuneError(f"{path}: the file holds no records")


def _check_types(
    record: dict, types: Mapping[str, type | tuple[type, ...]] | None, source: str, location: str
) -> None:
    for name, expected in (types or {}).items():
        allowed = expected if isinstance(expected, tuple) else (expected,)
        value = record.get(name)
        # bool is an int to isinstance, but never what a numeric field means
        if value is not None and (
            not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
        ):
            wanted = " or ".join(kind.__name__ for kind in allowed)
            raise RecordError(
                source, location, "wrong_type", f"expected {wanted}, got {type(value).__name__}", field=name
            )


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
    value = _loads(text, source, location)
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


def check_writable_folder(folder: str | Path) -> None:
    """Refuse, before any work, a folder that cannot be created or written: a file stands where it or one of
    its parents should be, or the nearest existing folder is not writable."""
    folder = Path(folder)
    for candidate in (folder, *folder.parents):
        if not os.path.lexists(candidate):
            continue
        if not candidate.is_dir():
            raise SeqtuneError(f"{folder}: cannot write there: {candidate} is a file, not a folder")
        if not os.access(candidate, os.W_OK | os.X_OK):
            raise SeqtuneError(f"{folder}: cannot write there: the folder {candidate} is not writable")
        return


def cannot_write(path: str | Path, error: OSError) -> SeqtuneError:
    """One line for an output that the file system refused (read-only folder, full disk, a file in the way)."""
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
    return SeqtuneError(f"{path}: cannot write: {error.strerror or error}{where}")


@contextlib.contextmanager
def atomic_write(path: str | Path, *, binary: bool = False) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed.

    A `.gz` path is gzip-compressed with a zero timestamp so that equal content gives equal bytes.
    """
    path = Path(path)
    check_writable_folder(path.parent)
    if path.is_dir():
        raise SeqtuneError(f"{path}: is a folder; give a file name for this output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with contextlib.ExitStack() as stack:
            stream: IO = stack.enter_context(os.fdopen(fd, "wb"))
            if path.suffix == ".gz":
                stream = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0))
            if not binary:
                stream = stack.enter_context(io.TextIOWrapper(stream, encoding="utf-8", newline="\n"))
            yield stream
        try:
            with open(tmp_name, "rb") as written:  # on disk before it takes the final name
                os.fsync(written.fileno())
            os.chmod(tmp_name, usual_mode(directory=False))  # mkstemp makes 0600 files
            os.replace(tmp_name, path)
        except OSError as exc:
            raise cannot_write(path, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that atomic_write leaves when its process is killed (only files named as it
    names them, so nothing else is touched). Call it only where no other process writes (under a lock)."""
    removed = []
    for candidate in Path(folder).rglob(".*.tmp"):
        if _TEMPORARY.match(candidate.name) and candidate.is_file() and not candidate.is_symlink():
            candidate.unlink()
            removed.append(candidate)
    return removed


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


def seeded_index(seed: int, key: str, size: int) -> int:
    """A position in [0, size) drawn from a hash of (seed, key): stable across runs, orders and platforms."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size
