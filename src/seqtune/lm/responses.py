"""Responses written by another system (an API batch job, another toolkit, people), replayed as predictions.

The file holds one response per line, `{"id": ..., "response": ...}` (JSONL, optionally gzipped; the field names
are `id_field` / `response_field`). Ids are compared as strings, so 7 and "7" name the same example; a file
without ids (`id_field=""`) answers by position, its Nth record being example id "N-1". A file that
answers several prompt variants names the variant on every line (`variant_field`); a file without that field
answers the one variant the run names (`variants=[V]`). Examples without a response are left out of the
predictions, and responses that match no example of the run are not used: both are counted in the manifest and
the first few named in the log. Every run reads the file afresh, so the predictions are always what it holds now.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.lm.base import LM, Completion, Done, Request, failed
from seqtune.records import ErrorPolicy, iter_json_records, record_position, require_str

log = logging.getLogger(__name__)

NAMED = 5
"""How many unmatched / missing ids the log and the manifest name."""

Key = tuple[str, "str | None"]
"""(example id, variant); the variant is None for a file without a variant field."""


def read_responses(
    path: str, id_field: str, response_field: str, variant_field: str, policy: ErrorPolicy
) -> dict[Key, str]:
    """(example id, variant or None) → response, in file order. A repeated key is an error whatever the policy:
    two responses for one example cannot both be scored."""
    responses: dict[Key, str] = {}
    first_seen: dict[Key, str] = {}
    # the first line with an id and a response decides whether every line names its variant
    has_variant: bool | None = None
    decided_at = ""
    for location, record in iter_json_records(path, policy):
        try:
            example_id = (
                _example_id(record, id_field, path, location) if id_field else str(record_position(location))
            )
            response = require_str(record, response_field, path, location)
            if has_variant is None:
                has_variant, decided_at = variant_field in record, location
            if (variant_field in record) != has_variant:
                raise RecordError(
                    path,
                    location,
                    "mixed_variant",
                    f"{'missing' if has_variant else 'present'}, unlike {decided_at}: "
                    "name the variant on every line or on none",
                    field=variant_field,
                )
            variant = require_str(record, variant_field, path, location) if has_variant else None
        except RecordError as error:
            policy.handle(error)
            continue
        key = (example_id, variant)
        if key in responses:
            also = f", variant '{variant}'" if variant is not None else ""
            raise RecordError(
                path,
                location,
                "duplicate_id",
                f"id '{example_id}'{also} already has a response ({first_seen[key]})",
                field=id_field,
            )
        responses[key] = response
        first_seen[key] = location
    return responses


def _example_id(record: dict, field: str, source: str, location: str) -> str:
    value = record.get(field)
    if value is None:
        raise RecordError(source, location, "missing_field", "missing", field=field)
    # bool is an int subclass, but true/false is never an example id
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(
            source,
            location,
            "wrong_type",
            f"expected a string or an integer, got {type(value).__name__}",
            field=field,
        )
    return str(value)


def _named(keys: Sequence[Key]) -> list[str]:
    return [example_id if variant is None else f"{example_id} ({variant})" for example_id, variant in keys]


class ResponsesLM(LM):
    """Answers each request by its `id` = (example id, variant); a request the file has no response for gets a
    "no_response" failure, which generate leaves out of the predictions."""

    name = "responses"
    replays = True

    def cache_key(self, request: Request) -> str:
        # a replay answers by id: equal prompts of two examples are two questions, never asked once
        return f"{super().cache_key(request)}:{json.dumps(list(request.id), ensure_ascii=False)}"

    def __init__(
        self,
        responses: dict[Key, str],
        *,
        path: str,
        model: str,
        adapter: str | None = None,
        decoding: dict | None = None,
        skipped: dict[str, int] | None = None,
    ):
        # the file holds what the other system said: empty answers are kept, and nothing is cached
        super().__init__(model, reject_incomplete=False)
        self.responses = responses
        self.path = path
        self.adapter = adapter
        self.decoding = decoding or {}
        self.by_variant = any(variant is not None for _, variant in responses)
        self.counts: dict = {"read": len(responses), "skipped": dict(skipped or {})}

    def _complete(self, requests: list[Request], done: Done) -> None:
        """A replay reuses nothing, so `requests` are all the run's, and the file's other responses are the ones
        that match no example of the run."""
        keys = [(request.id[0], request.id[1] if self.by_variant else None) for request in requests]
        asked = set(keys)
        found = [index for index, key in enumerate(keys) if key in self.responses]
        missing = [key for key in keys if key not in self.responses]
        unmatched = [key for key in self.responses if key not in asked]
        if not found:
            raise SeqtuneError(
                f"{self.path}: no response matches an example of this run (ids like '{keys[0][0]}' expected, "
                f"the file has ids like '{next(iter(self.responses))[0]}')"
                if self.responses and keys
                else f"{self.path}: no usable response"
            )
        self.counts.update(
            used=len(found),
            unmatched=len(unmatched),
            missing=len(missing),
            first_unmatched=_named(unmatched[:NAMED]),
            first_missing=_named(missing[:NAMED]),
        )
        if unmatched:
            log.warning(
                "%s: %d response(s) match no example of this run, e.g. %s",
                self.path,
                len(unmatched),
                ", ".join(_named(unmatched[:NAMED])),
            )
        if missing:
            log.warning(
                "%s: %d example(s) have no response and are left out, e.g. %s",
                self.path,
                len(missing),
                ", ".join(_named(missing[:NAMED])),
            )
        done(
            list(range(len(requests))),
            [
                Completion(self.responses[key])
                if key in self.responses
                else failed("no_response", "no response")
                for key in keys
            ],
        )

    def describe(self) -> dict:
        return {**super().describe(), "responses_file": self.path, "responses": self.counts}


def from_config(config) -> ResponsesLM:
    """The replay generate's config names: its file, fields and error policy."""
    path = Path(config.responses)
    policy = ErrorPolicy(config.on_error)
    responses = read_responses(
        str(path), config.id_field, config.response_field, config.variant_field, policy
    )
    if policy.skipped:
        log.warning(
            "%s: skipped %d bad line(s): %s (first: %s)",
            path,
            sum(policy.skipped.values()),
            dict(policy.skipped),
            policy.first_errors[0],
        )
    by_variant = any(variant is not None for _, variant in responses)
    if responses and not by_variant and len(config.variants) != 1:
        raise ConfigError(
            f"responses: {path} has no '{config.variant_field}' field, so it answers one prompt variant; "
            "name it with variants=[V]"
        )
    return ResponsesLM(
        responses,
        path=str(path),
        model=config.model or path.name,
        adapter=config.adapter,
        decoding=config.responses_decoding,
        skipped=dict(policy.skipped),
    )
