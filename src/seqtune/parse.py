"""Model response → intermediate segments + final answer: the inverse of `seqtune.augment.compose.compose_output`.

Never raises on any string: a response that does not have the expected shape gets `fallback` set to a short,
stable reason ("empty", "too_few_segments", "missing_label") and whatever parts could be recovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqtune.augment.compose import ANSWER_LABEL, OUTPUT_FORMATS, header


@dataclass
class ParsedResponse:
    segments: list[str]
    """One per expected step, "" where missing."""
    final: str
    """The final answer text, "" where missing."""
    complete: bool
    """Every step segment is non-empty (after stripping) and a final answer is present."""
    fallback: str | None
    """None when the response had the expected shape, else a short reason."""


def parse_response(
    response: str,
    steps: list[str],
    fmt: str = "newline",
    *,
    segment_lines: list[int | None] | None = None,
    labels: list[str] | None = None,
) -> ParsedResponse:
    """Split `response` into one segment per step and the final answer.

    segment_lines[i]: how many lines segment i spans (e.g. the line count of the text it should repeat). None or
    missing means unknown (e.g. a paraphrase): unknown segments share the lines left once the known segments and
    a one-line final answer are taken. labels: the steps' labels for the labelled format (default: their labels
    in steps.json).
    """
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    given = list(segment_lines or [])[: len(steps)]
    known = [None if n is None else max(1, n) for n in given] + [None] * (len(steps) - len(given))
    spans = _resolve_unknown_spans(known, response.count("\n") + 1)
    if fmt == "labelled":
        labels = labels if labels is not None else _default_labels(steps)
        segments, final, fallback = _parse_labelled(response, labels, spans[: len(steps)])
    elif fmt == "newline":
        segments, final, fallback = _parse_newline(response, spans[: len(steps)])
    else:
        raise ValueError(f"unknown output format '{fmt}'; known: {', '.join(OUTPUT_FORMATS)}")
    if not response.strip():
        fallback = "empty"
    complete = fallback is None and all(s.strip() for s in segments) and bool(final.strip())
    return ParsedResponse(segments, final, complete, fallback)


def _resolve_unknown_spans(spans: list[int | None], line_count: int) -> list[int]:
    """Unknown spans share the lines left after the known spans and a one-line final answer (at least 1 each)."""
    unknown = [index for index, span in enumerate(spans) if span is None]
    if not unknown:
        return [span for span in spans if span is not None]
    spare = max(len(unknown), line_count - sum(span for span in spans if span is not None) - 1)
    share, extra = divmod(spare, len(unknown))
    resolved = list(spans)
    for rank, index in enumerate(unknown):
        resolved[index] = share + (1 if rank < extra else 0)
    return resolved


def _default_labels(steps: list[str]) -> list[str]:
    from seqtune.steps.base import step_label

    return [step_label(step) for step in steps]


def _parse_newline(response: str, spans: list[int]) -> tuple[list[str], str, str | None]:
    lines = response.split("\n")
    segments: list[str] = []
    position = 0
    for span in spans:
        segments.append("\n".join(lines[position : position + span]))
        position += span
    if position >= len(lines):
        # not even one line left for the final answer: the response is shorter than the chain
        return segments, "", "too_few_segments"
    return segments, "\n".join(lines[position:]), None


def _parse_labelled(response: str, labels: list[str], spans: list[int]) -> tuple[list[str], str, str | None]:
    """Find the header lines in order. With known spans, a header is expected exactly `span` lines after the
    previous one (so a target line equal to a later header is not mistaken for it); otherwise, or when the
    expected line is not that header, the next matching header line further down is taken."""
    lines = response.split("\n")
    headers = [header(label) for label in [*labels, ANSWER_LABEL]]
    starts: list[int | None] = []
    position = 0
    for index, wanted in enumerate(headers):
        if index == 0:
            found = _find_header(lines, wanted, 0)
        else:
            previous = starts[-1]
            expected = None if previous is None else previous + 1 + spans[index - 1]
            if expected is not None and expected < len(lines) and lines[expected].strip() == wanted:
                found = expected
            else:
                found = _find_header(lines, wanted, position)
        starts.append(found)
        if found is not None:
            position = found + 1
    parts: list[str] = []
    for index, start in enumerate(starts):
        if start is None:
            parts.append("")
            continue
        end = next((s for s in starts[index + 1 :] if s is not None), len(lines))
        parts.append("\n".join(lines[start + 1 : end]))
    fallback = None if all(start is not None for start in starts) else "missing_label"
    return parts[:-1], parts[-1], fallback


def _find_header(lines: list[str], wanted: str, start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if lines[i].strip() == wanted), None)
