"""The sequential format both ways: what augment composes, the analysis reads back; and any string is read
without an error. Realistic cases of each reading rule are in test_response_corpus.py."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtune.sequential import InputView, analyse, answer_lines, compose_output
from seqtune.steps import step_label

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"
CHOICES = {"A": "bank", "B": "library", "C": "department store", "D": "mall", "E": "new york"}
QUESTION = (
    "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?\n"
    + "\n".join(f"{label}. {text}" for label, text in CHOICES.items())
)
PARAPHRASE = "Besides letting people pass both ways, a revolving door is a safety feature of what place?"
VIEW = InputView.of(QUESTION, CHOICES)


def _xquad_pairs(count: int) -> list[tuple[str, str]]:
    """(German input, English input) of the first XQuAD sample questions."""

    def inputs(lang):
        document = json.loads((SAMPLES / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        return [
            f"Passage: {paragraph['context']}\nQuestion: {qa['question']}"
            for article in document["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ][:count]

    return list(zip(inputs("de"), inputs("en"), strict=True))


CSQA_CHAINS = {
    "repeat": ([QUESTION], ["repeat"]),
    "paraphrase": ([PARAPHRASE], ["paraphrase"]),
    "repeat_paraphrase": ([QUESTION, PARAPHRASE], ["repeat", "paraphrase"]),
    "paraphrase_repeat_paraphrase": (
        [PARAPHRASE, QUESTION, PARAPHRASE],
        ["paraphrase", "repeat", "paraphrase"],
    ),
}


@pytest.mark.parametrize("fmt", ["newline", "labelled"])
@pytest.mark.parametrize("chain", sorted(CSQA_CHAINS))
@pytest.mark.parametrize("answer", ["A", "The answer is A. bank", "bank"])
def test_what_augment_composes_is_read_back(chain, fmt, answer):
    targets, steps = CSQA_CHAINS[chain]
    response = compose_output(targets, answer, fmt, [step_label(s) for s in steps])
    expected = [QUESTION if s == "repeat" else "" for s in steps]
    analysis = analyse(response, steps, expected, VIEW)
    assert analysis.segments == targets and answer_lines(analysis.answer_part, VIEW) == [answer]


@pytest.mark.parametrize("fmt", ["newline", "labelled"])
@pytest.mark.parametrize("german,english", _xquad_pairs(5))
def test_a_composed_translation_is_read_back(german, english, fmt):
    response = compose_output([english], "Denver Broncos", fmt, [step_label("translate")])
    view = InputView.of(german)
    analysis = analyse(response, ["translate"], [english], view)
    assert analysis.segments == [english] and answer_lines(analysis.answer_part, view) == ["Denver Broncos"]


def test_a_repetition_on_one_line_then_the_answer_on_the_same_line():
    response = QUESTION.replace("\n", " ") + " Answer: C"
    analysis = analyse(response, ["repeat"], [QUESTION], VIEW)
    assert analysis.segments == [QUESTION.replace("\n", " ")] and analysis.answer_part == "Answer: C"


def test_an_answer_given_before_the_repetition_is_still_the_answer():
    analysis = analyse(f"Answer: A\n\nInput: {QUESTION}", ["repeat"], [QUESTION], VIEW)
    assert analysis.segments == [QUESTION] and analysis.answer_part == "Answer: A"


def test_a_base_model_that_starts_the_next_example_stops_there():
    response = f"{QUESTION}\nA\n\n### Instruction:\nPlease repeat the input.\n### Input:\nWhat is red?\nB"
    analysis = analyse(response, ["repeat"], [QUESTION], VIEW)
    assert analysis.answer_part == "A"


def test_a_choice_line_after_the_listing_is_an_answer_and_the_listing_is_not():
    analysis = analyse(f"{QUESTION}\nE. new york", ["repeat"], [QUESTION], VIEW)
    assert answer_lines(analysis.answer_part, VIEW) == ["E. new york"]
    assert answer_lines(QUESTION, VIEW) == []  # only a copy of the input: nothing to read an answer from


def test_a_forced_start_is_the_first_segment_as_it_is():
    analysis = analyse("\nB", ["repeat"], [QUESTION], VIEW, prefix="What is red?\nA. sky\nB. rose\n")
    assert analysis.segments == ["What is red?\nA. sky\nB. rose"] and analysis.answer_part == "B"


@settings(max_examples=300, deadline=None)
@given(
    response=st.text(max_size=300),
    steps=st.lists(st.sampled_from(["repeat", "paraphrase", "translate", "caption"]), max_size=3),
)
def test_any_string_is_read_without_an_error(response, steps):
    expected = [QUESTION if s == "repeat" else "" for s in steps]
    analysis = analyse(response, steps, expected, VIEW)
    assert len(analysis.segments) == len(steps)
    assert all(isinstance(line, str) and line.strip() for line in answer_lines(analysis.answer_part, VIEW))
