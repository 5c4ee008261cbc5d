"""parse_response is the exact inverse of compose_output, and never raises on any response."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtune.augment.compose import compose_output
from seqtune.parse import parse_response
from seqtune.steps import step_label

STEP_NAMES = ["repeat", "paraphrase", "translate", "caption"]
CHAINS = [list(c) for n in range(1, 5) for c in itertools.permutations(STEP_NAMES, n)][::7] + [
    ["paraphrase", "repeat", "paraphrase"],  # the paper's P+R+P+A has a step twice
    ["repeat", "repeat", "repeat", "repeat"],
]
# text with everything that breaks naive splitting: newlines, braces, labels, Unicode, empty strings
TEXT = st.one_of(
    st.text(),
    st.sampled_from(
        ["", "\n", "Answer:", "Repetition:\nAnswer:", "{input}", "{}", "a\r\nb", "你好\n世界", " "]
    ),
)


def _spans(targets: list[str]) -> list[int]:
    return [t.count("\n") + 1 for t in targets]


@pytest.mark.parametrize("fmt", ["newline", "labelled"])
@pytest.mark.parametrize("steps", CHAINS, ids=lambda c: "+".join(c))
def test_round_trip_of_step_chains(steps, fmt):
    targets = [
        f"target of {name} #{i}\nsecond line" if i % 2 else f"target {i}" for i, name in enumerate(steps)
    ]
    final = "The answer is {B}.\nBecause."
    labels = [step_label(s) for s in steps]
    response = compose_output(targets, final, fmt, labels)
    parsed = parse_response(response, steps, fmt, segment_lines=_spans(targets))
    assert (parsed.segments, parsed.final, parsed.fallback, parsed.complete) == (targets, final, None, True)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.sampled_from(STEP_NAMES), min_size=1, max_size=4),
    data=st.data(),
    fmt=st.sampled_from(["newline", "labelled"]),
)
def test_round_trip_property(steps, data, fmt):
    targets = [data.draw(TEXT) for _ in steps]
    final = data.draw(TEXT)
    response = compose_output(targets, final, fmt, [step_label(s) for s in steps])
    parsed = parse_response(response, steps, fmt, segment_lines=_spans(targets))
    assert parsed.segments == targets
    assert parsed.final == final
    if response.strip():
        assert parsed.fallback is None
    assert parsed.complete == (
        all(t.strip() for t in targets) and bool(final.strip()) and parsed.fallback is None
    )


@settings(max_examples=300, deadline=None)
@given(
    response=st.text(),
    steps=st.lists(st.sampled_from(STEP_NAMES), max_size=4),
    fmt=st.sampled_from(["newline", "labelled"]),
)
def test_never_raises_and_shape_is_stable(response, steps, fmt):
    parsed = parse_response(response, steps, fmt)
    assert len(parsed.segments) == len(steps)
    assert parsed.complete is (
        parsed.fallback is None and all(s.strip() for s in parsed.segments) and bool(parsed.final.strip())
    )


def test_newline_default_one_line_per_segment():
    parsed = parse_response("the input\nThe answer is A", ["repeat"])
    assert parsed == parse_response("the input\nThe answer is A", ["repeat"], segment_lines=[None])
    assert parsed.segments == ["the input"] and parsed.final == "The answer is A" and parsed.complete


def test_too_short_response_falls_back():
    parsed = parse_response("only the repetition", ["repeat"])
    assert parsed.fallback == "too_few_segments"
    assert parsed.segments == ["only the repetition"] and parsed.final == "" and not parsed.complete


def test_empty_response_falls_back():
    for response in ["", "   ", "\n\n"]:
        parsed = parse_response(response, ["repeat", "paraphrase"])
        assert parsed.fallback == "empty" and not parsed.complete


def test_labelled_missing_label_recovers_the_rest():
    parsed = parse_response("Repetition:\nthe input\nThe answer is A", ["repeat"], "labelled")
    assert parsed.fallback == "missing_label"
    assert parsed.segments == ["the input\nThe answer is A"] and parsed.final == ""


def test_labelled_without_spans_uses_first_following_header():
    response = "noise before\nRepetition:\nline 1\nline 2\nAnswer:\nB"
    parsed = parse_response(response, ["repeat"], "labelled")
    assert parsed.segments == ["line 1\nline 2"] and parsed.final == "B" and parsed.complete


def test_labelled_known_spans_keep_a_header_like_line_inside_a_target():
    response = compose_output(["Question: x\nAnswer:\ny"], "C", "labelled", ["Repetition"])
    with_spans = parse_response(response, ["repeat"], "labelled", segment_lines=[3])
    assert with_spans.segments == ["Question: x\nAnswer:\ny"] and with_spans.final == "C"


def test_custom_labels_and_unknown_format():
    response = "Echo:\nhi\nAnswer:\nok"
    assert parse_response(response, ["repeat"], "labelled", labels=["Echo"]).segments == ["hi"]
    with pytest.raises(ValueError):
        parse_response(response, ["repeat"], "xml")


def test_unknown_spans_share_the_lines_left_before_a_one_line_answer():
    one_line = parse_response("a paraphrase\nA", ["paraphrase"], segment_lines=[None])
    assert (one_line.segments, one_line.final, one_line.complete) == (["a paraphrase"], "A", True)
    two_lines = parse_response("p1\np2\nA", ["paraphrase"])
    assert (two_lines.segments, two_lines.final) == (["p1\np2"], "A")
    chain = parse_response("r1\nr2\np1\np2\np3\nB", ["repeat", "paraphrase"], segment_lines=[2, None])
    assert (chain.segments, chain.final) == (["r1\nr2", "p1\np2\np3"], "B")
    split = parse_response("x\ny\nz\nC", ["paraphrase", "paraphrase"], segment_lines=[None, None])
    assert (split.segments, split.final) == (["x\ny", "z"], "C")
