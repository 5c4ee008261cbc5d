"""Answer extraction rules, one case per rule and per trap, each written as a model would write it."""

import pytest

from seqtune.metrics.answers import extract_choice, extract_span

CHOICES = {"A": "bank", "B": "library", "C": "department store", "D": "mall", "E": "new york"}


@pytest.mark.parametrize(
    "text,letter,rule",
    [
        ("A", "A", "lone_letter"),
        ("(B)", "B", "lone_letter"),
        ("c.", "C", "lone_letter"),
        ("D) mall", "D", "letter_and_text"),
        ("The answer is B.", "B", "statement"),
        ("Answer: C", "C", "statement"),
        ("The correct choice is (E) new york, since it is a city.", "E", "statement"),
        ("The correct answer is a bank.", "A", "statement"),  # the article "a", then choice A's text
        ("I'd go with (B) library.", "B", "hedged_letter"),
        ("You find books there (B).", "B", "parenthesized_letter"),
        ("I think it's probably D", "D", "hedged_letter"),
        ("library", "B", "choice_text"),
        ("I would go to the library.", "B", "choice_text"),
        ("New York!", "E", "choice_text"),
        ("A bank", "A", "choice_text"),  # by its text, not by the article "A"
    ],
)
def test_each_rule_names_itself(text, letter, rule):
    extraction = extract_choice([text], CHOICES)
    assert (extraction.answer, extraction.rule, extraction.attempted) == (letter, rule, True)


def test_the_first_committed_answer_wins_over_a_later_explanation():
    lines = ["The answer is A.", "Banks need security.", "That is why the answer is not D. mall."]
    assert extract_choice(lines, CHOICES).answer == "A"
    assert extract_choice(["A. bank", "A bank needs more security than a library."], CHOICES).answer == "A"
    assert extract_choice(["B", "A library is quieter than a mall (D)."], CHOICES).answer == "B"
    # a remark that another choice is also likely does not take back an explicit answer
    assert (
        extract_choice(["The answer is C. department store, but D. mall is also likely."], CHOICES).answer
        == "C"
    )
    assert extract_choice(["Both C and D could work, but I'd pick C."], CHOICES).answer == "C"


@pytest.mark.parametrize(
    "lines",
    [
        ["The answer is A. Actually, the answer is C."],
        ["A or C"],
        ["The answer is B or D."],
        ["Answer: B. library", "Answer: C. department store"],
    ],
)
def test_two_different_committed_answers_are_invalid_but_attempted(lines):
    extraction = extract_choice(lines, CHOICES)
    assert (extraction.answer, extraction.invalid_reason, extraction.attempted) == (
        None,
        "conflicting_answers",
        True,
    )


@pytest.mark.parametrize(
    "lines,reason,attempted",
    [
        (["I do not know"], "refusal", False),
        (["I'm sorry, but I can't answer that."], "refusal", False),
        (["The correct answer is"], "no_answer", False),  # cut off before the answer
        (["Sure! Let me think about this."], "no_answer", False),
        (["glasses"], "not_a_choice", True),  # an answer, but none of the choices
        (["bank or mall"], "not_a_choice", True),  # two choices' texts: no single choice
        ([], "no_answer", False),
        (["F"], "not_a_choice", True),  # a letter that is no choice
    ],
)
def test_no_answer_and_why(lines, reason, attempted):
    extraction = extract_choice(lines, CHOICES)
    assert (extraction.answer, extraction.invalid_reason, extraction.attempted) == (None, reason, attempted)


@pytest.mark.parametrize(
    "lines,answer",
    [
        (["308"], "308"),
        (["Answer: 308"], "308"),
        (["The answer is 308."], "308"),
        (['"Denver Broncos"'], "Denver Broncos"),
        (["**Denver Broncos**"], "Denver Broncos"),
        (["308", "The Panthers defense gave up just 308 points."], "308"),
        (["Sure! Here is the answer:", "308"], "308"),
        (["Die Antwort ist: seine letzte Schrift."], "seine letzte Schrift"),
        (["答案：六次"], "六次"),
        (["Ответ: гуру"], "гуру"),
    ],
)
def test_span_answers_lose_prefixes_quotes_and_explanations(lines, answer):
    extraction = extract_span(lines)
    assert extraction.answer == answer and extraction.attempted


@pytest.mark.parametrize(
    "lines", [["I cannot answer this question based on the passage."], ["I hope this helps!"], []]
)
def test_no_span_answer(lines):
    assert extract_span(lines).answer is None and not extract_span(lines).attempted


@pytest.mark.parametrize("lines", [["...."], [" the "], ["。，"]])
def test_a_text_answer_with_nothing_left_after_normalization_is_none(lines):
    from seqtune.tasks._text_answers import extract_text_answer

    assert extract_text_answer(lines).answer is None
