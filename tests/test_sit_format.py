"""The SIT authors' evaluation file format, on records written by hand the way their scripts write them."""

import json

import pytest

from seqtune.errors import RecordError
from seqtune.tasks.sit_format import (
    csqa_gold,
    is_sit_format,
    parse_csqa_input,
    parse_xquad_input,
    sit_csqa_example,
    sit_xquad_example,
    xquad_gold,
)

CSQA_INSTRUCTION = "Select the correct choice to answer the question in the input"
XQUAD_INSTRUCTION = (
    "Answer the question from the given passage. Your answer should be directly extracted from the passage, "
    "and it should be a single entity, name, or number, not a sentence."
)
# exactly what construct_data/make_data_xquad.py appends to the question and to the input
NOTE = (
    "Note: Your answer should be directly extracted from the passage and be a single entity, name, or number. "
    "Provide the answer in quotations."
)
RESPONSE_START = "\n### Response: Based on the passage, the answer to the question is : "
PASSAGE_DE = (
    "Die Verteidigung der Panthers gab nur 308 Punkte ab und belegte den sechsten Platz in der Liga, während sie "
    "die NFL mit 24 Interceptions in dieser Kategorie anführte."
)
PASSAGE_TH = "ทีมรับของแพนเธอร์สถอดใจที่คะแนน 308 ได้อันดับที่หกของลีก"

# the first lines of a CommonsenseQA file in the authors' format (dev questions, answer keys as in the dev set)
CSQA_FILE = [
    {
        "instruction": CSQA_INSTRUCTION,
        "input": "Question: A revolving door is convenient for two direction travel, but it also serves as a "
        "security measure at a what?\nChoices: A:bank, B:library, C:department store, D:mall, E:new york",
        "output": "A",
    },
    {
        "instruction": CSQA_INSTRUCTION,
        "input": "Question: Where would you find magazines along side many other printed works?\n"
        "Choices: A:doctor, B:bookstore, C:market, D:train station, E:mortuary",
        "output": "B",
    },
    {
        "instruction": CSQA_INSTRUCTION,
        "input": "Question: What do people typically do while playing guitar?\n"
        "Choices: A:cry, B:hear sounds, C:singing, D:arthritis, E:making music",
        "output": "C",
    },
]


def test_csqa_records_give_stem_choices_and_gold():
    parsed = [sit_csqa_example(record, "csqa.json", f"record {i}") for i, record in enumerate(CSQA_FILE)]
    assert parsed[0] == (
        "A revolving door is convenient for two direction travel, but it also serves as a security measure at "
        "a what?",
        {"A": "bank", "B": "library", "C": "department store", "D": "mall", "E": "new york"},
        "A",
    )
    assert [gold for _, _, gold in parsed] == ["A", "B", "C"]
    assert parsed[2][1] == {
        "A": "cry",
        "B": "hear sounds",
        "C": "singing",
        "D": "arthritis",
        "E": "making music",
    }
    assert all(is_sit_format(record) for record in CSQA_FILE)


def test_choices_are_split_only_at_the_next_label():
    # texts with commas, with other capital letters and colons, and the same layout with spaces after the colons
    stem, choices = parse_csqa_input(
        "Question: Where do you keep salt, pepper and other spices?\n"
        "Choices: A:cupboard, shelf 2, B:kitchen, C: drawer, B: top, D:Plan B: the store, E:pantry"
    )
    assert stem == "Where do you keep salt, pepper and other spices?"
    assert choices == {
        "A": "cupboard, shelf 2",
        "B": "kitchen",
        "C": "drawer, B: top",
        "D": "Plan B: the store",
        "E": "pantry",
    }
    _, four = parse_csqa_input("question:  Who?\nChoices: A: x, B: y, C: z, D: w  \n")
    assert four == {"A": "x", "B": "y", "C": "z", "D": "w"}


@pytest.mark.parametrize(
    ("output", "letter"),
    [
        ("A", "A"),
        ("A.", "A"),
        (" (A) ", "A"),
        ("E)", "E"),
        ("A: bank", "A"),
        ("A:bank", "A"),
        ("A. bank", "A"),
        ("(A) bank", "A"),
        ("bank", "A"),
        ("Bank.", "A"),
        ("New York", "E"),
        ("E: New York.", "E"),
    ],
)
def test_csqa_gold_in_each_form_a_file_may_write(output, letter):
    choices = {"A": "bank", "B": "library", "C": "department store", "D": "mall", "E": "new york"}
    assert csqa_gold(output, choices) == letter


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("F", "'F' names no choice (choices: A, B, C, D, E)"),
        ("B: bank", "'B: bank': choice B is 'library'"),
        ("paris", "'paris' is neither a choice letter nor a choice's text"),
        ("A bank", "'A bank' is neither a choice letter nor a choice's text"),
        ("", "'' is neither a choice letter nor a choice's text"),
    ],
)
def test_a_csqa_gold_that_contradicts_the_choices_is_an_error(output, message):
    choices = {"A": "bank", "B": "library", "C": "department store", "D": "mall", "E": "new york"}
    with pytest.raises(RecordError) as caught:
        csqa_gold(output, choices, "csqa.json", "record 7")
    assert str(caught.value) == f"csqa.json:record 7: field 'output': {message}"
    assert caught.value.reason == "bad_gold"


def test_a_gold_text_shared_by_two_choices_is_ambiguous():
    with pytest.raises(RecordError, match="is the text of several choices"):
        csqa_gold("mall", {"A": "mall", "B": "Mall", "C": "bank"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A revolving door ...\nChoices: A:bank, B:library", "expected 'Question: <question>'"),
        ("Question: A revolving door ...\nA. bank\nB. library", "no 'Choices:' line after the question"),
        ("Question: \nChoices: A:bank, B:library", "the question is empty"),
        ("Question: Where?\nChoices: bank, library", "the choices do not start with 'A:'"),
        ("Question: Where?\nChoices: A:bank", "fewer than two choices"),
        ("Question: Where?\nChoices: A:bank, B:, C:mall", "choice B is empty"),
        (
            "Question: Where?\nChoices: A:bank, B:library\nAnswer:",
            "unexpected text after the 'Choices:' line",
        ),
    ],
)
def test_a_malformed_csqa_input_names_file_record_and_field(text, message):
    with pytest.raises(RecordError) as caught:
        parse_csqa_input(text, "csqa.jsonl", "line 4")
    assert str(caught.value).startswith("csqa.jsonl:line 4: field 'input': ")
    assert message in str(caught.value) and caught.value.reason == "bad_input"


def test_xquad_records_as_the_authors_write_them():
    record = {
        "instruction": XQUAD_INSTRUCTION,
        "input": f"Passage: {PASSAGE_DE}\nQuestion: Wie viele Punkte gab die Verteidigung der Panthers ab?"
        f"{NOTE}{RESPONSE_START}",
        "output": "308",
    }
    assert is_sit_format(record)
    assert sit_xquad_example(record, "xquad_de.json", "record 0") == (
        PASSAGE_DE,
        "Wie viele Punkte gab die Verteidigung der Panthers ab?",
        ["308"],
    )
    thai = f"Passage: {PASSAGE_TH}\nQuestion: จาเรด อัลเลน ทำการแซ็คไปกี่ครั้งตลอดอาชีพ {NOTE}{RESPONSE_START}"
    assert parse_xquad_input(thai) == (PASSAGE_TH, "จาเรด อัลเลน ทำการแซ็คไปกี่ครั้งตลอดอาชีพ")
    # the response start without the note, no additions at all, "Context:" for "Passage:", line breaks
    assert parse_xquad_input(f"Passage: {PASSAGE_DE}\nQuestion: Wie viele?{RESPONSE_START}") == (
        PASSAGE_DE,
        "Wie viele?",
    )
    assert parse_xquad_input("Context: Line one.\nLine two.\nQuestion: What is it?") == (
        "Line one.\nLine two.",
        "What is it?",
    )
    assert xquad_gold("  Kawann Short ") == ["Kawann Short"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Question: Who?\nPassage: text", "expected 'Passage: <passage>'"),
        ("Passage: The Panthers defense gave up just 308 points.", "no 'Question:' line after the passage"),
        (f"Passage: text\nQuestion: {NOTE}{RESPONSE_START}", "the question is empty"),
        ("Passage: \nQuestion: Who?", "the passage is empty"),
    ],
)
def test_a_malformed_xquad_input_names_file_record_and_field(text, message):
    with pytest.raises(RecordError) as caught:
        parse_xquad_input(text, "xquad_de.json", "record 3")
    assert str(caught.value).startswith("xquad_de.json:record 3: field 'input': ") and message in str(
        caught.value
    )


def test_wrong_field_types_and_missing_gold_are_record_errors():
    record = {**CSQA_FILE[0], "output": 1}
    assert is_sit_format(record)  # the shape is the authors'; the type error is reported when it is read
    with pytest.raises(RecordError, match="csqa.json:record 0: field 'output': expected a string, got int"):
        sit_csqa_example(record, "csqa.json", "record 0")
    with pytest.raises(RecordError, match="field 'output': the answer is empty"):
        xquad_gold(" ", "xquad_de.json", "record 0")
    with pytest.raises(RecordError, match="field 'input': missing"):
        sit_xquad_example({"instruction": "", "input": None, "output": "x"}, "xquad_de.json", "record 0")


def test_only_records_with_instruction_input_and_output_are_in_the_authors_format():
    original = json.loads(
        '{"answerKey": "A", "id": "1afa", "question": {"stem": "Where?", "choices": [{"label": "A", "text": "bank"}]}}'
    )
    alpaca_without_output = {"instruction": "Answer.", "input": "Question: Where?"}
    assert not is_sit_format(original) and not is_sit_format(alpaca_without_output)
    assert not is_sit_format(["instruction", "input", "output"])
