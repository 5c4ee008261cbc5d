"""Metric unit tests: hand-worked cases in Latin, Chinese, Arabic and Thai script; equality with rouge_score and
with the official SQuAD v1.1 formulas on English."""

import json
import re
import string
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from seqtune.metrics.following import FollowingThresholds, has_output, is_english, is_faithful
from seqtune.metrics.rouge import lcs_length, rouge_l
from seqtune.metrics.squad import answer_contained, best_over_golds, exact_match, token_f1
from seqtune.metrics.tokenize import rouge_tokens, squad_normalize, squad_tokens

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"


# ---- tokenization ----


def test_tokens_latin_match_rouge_score_rules():
    assert list(rouge_tokens("Hello, World! It's 3.5 km")) == ["hello", "world", "it", "s", "3", "5", "km"]


def test_tokens_chinese_are_characters_and_numbers_stay_whole():
    assert list(rouge_tokens("黑豹队丢了 308分。")) == ["黑", "豹", "队", "丢", "了", "308", "分"]


def test_tokens_arabic_are_words_without_punctuation():
    assert list(rouge_tokens("ذهب الولد إلى المدرسة، اليوم؟")) == ["ذهب", "الولد", "إلى", "المدرسة", "اليوم"]


def test_tokens_thai_are_characters_with_their_marks():
    assert list(rouge_tokens("สวัสดีค่ะ")) == ["ส", "วั", "ส", "ดี", "ค่", "ะ"]


def test_tokens_devanagari_keep_vowel_signs_inside_words():
    assert list(rouge_tokens("हिन्दी भाषा")) == ["हिन्दी", "भाषा"]


# ---- ROUGE-L ----


def _lcs_table(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@given(st.lists(st.sampled_from("abcde"), max_size=80), st.lists(st.sampled_from("abcdef"), max_size=80))
def test_bit_parallel_lcs_equals_dynamic_programming(first, second):
    assert lcs_length(first, second) == _lcs_table(first, second)


def _english_pairs():
    texts = []
    for line in (SAMPLES / "alpaca.jsonl").read_text(encoding="utf-8").splitlines()[:120]:
        record = json.loads(line)
        texts += [record["instruction"], record["output"]]
    texts = [t for t in texts if t.isascii()]
    pairs = list(zip(texts, texts[1:], strict=False))  # unrelated pairs
    pairs += [(t, " ".join(t.split()[::2])) for t in texts]  # subsequences
    pairs += [(t, t.upper() + " extra words here") for t in texts]  # case and additions
    pairs += [("", "something"), ("something", ""), ("a b c", "c b a")]
    return pairs


def test_rouge_l_equals_rouge_score_on_english():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = _english_pairs()
    assert len(pairs) > 300
    for reference, candidate in pairs:
        expected = scorer.score(reference, candidate)["rougeL"]
        got = rouge_l(reference, candidate)
        assert (got.precision, got.recall, got.fmeasure) == pytest.approx(
            (expected.precision, expected.recall, expected.fmeasure), abs=1e-12
        ), (reference, candidate)


def test_rouge_l_chinese_hand_worked():
    # 6 vs 5 characters, LCS 5 (猫 在 垫 子 上): P = 1, R = 5/6, F = 10/11
    score = rouge_l("猫坐在垫子上", "猫在垫子上")
    assert (score.precision, score.recall, score.fmeasure) == pytest.approx((1.0, 5 / 6, 10 / 11))


def test_rouge_l_arabic_hand_worked():
    # word order swapped: LCS 3 of 4 words each side
    assert rouge_l("ذهب الولد إلى المدرسة", "الولد ذهب إلى المدرسة").fmeasure == pytest.approx(0.75)


def test_rouge_l_thai_hand_worked():
    # ส วั ส ดี ค รั บ (7) vs ส วั ส ดี ค่ ะ (6): LCS 4 → P 4/6, R 4/7, F 8/13
    assert rouge_l("สวัสดีครับ", "สวัสดีค่ะ").fmeasure == pytest.approx(8 / 13)


def test_rouge_score_itself_drops_chinese_which_is_why_we_tokenize():
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    assert scorer.score("猫坐在垫子上", "猫坐在垫子上")["rougeL"].fmeasure == 0.0
    assert rouge_l("猫坐在垫子上", "猫坐在垫子上").fmeasure == 1.0


# ---- SQuAD EM / F1, re-implemented here from the official v1.1 script's definition ----


def _official_normalize(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _official_f1(prediction, truth):
    p, t = _official_normalize(prediction).split(), _official_normalize(truth).split()
    same = sum((Counter(p) & Counter(t)).values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


ENGLISH_CASES = [
    ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
    ("the Denver Broncos!", ["Denver Broncos"]),
    ("Broncos won", ["Denver Broncos"]),
    ("Santa Clara, California", ["Santa Clara, California", "Levi's Stadium"]),
    ("Levis Stadium", ["Levi's Stadium"]),
    ("$1.2 billion", ["1.2 billion dollars"]),
    ("An apple a day", ["apple"]),
    ("", ["something"]),
    ("1990s", ["the 1990s"]),
    ("gold-coloured", ["gold coloured"]),
]


@pytest.mark.parametrize("prediction,golds", ENGLISH_CASES)
def test_squad_metrics_equal_official_definition_on_english(prediction, golds):
    assert best_over_golds(exact_match, prediction, golds) == max(
        float(_official_normalize(prediction) == _official_normalize(g)) for g in golds
    )
    assert best_over_golds(token_f1, prediction, golds) == pytest.approx(
        max(_official_f1(prediction, g) for g in golds)
    )


def test_squad_hand_worked_english():
    assert exact_match("The Denver Broncos", "Denver Broncos") == 1.0
    assert token_f1("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)  # P 2/3, R 1


def test_squad_chinese_counts_characters():
    assert squad_tokens(squad_normalize("丹佛野马队")) == ["丹", "佛", "野", "马", "队"]
    assert token_f1("丹佛野马队", "野马队") == pytest.approx(0.75)  # P 3/5, R 1
    assert exact_match("野马队。", "野马队") == 1.0


def test_squad_arabic_removes_arabic_punctuation():
    assert exact_match("القاهرة؟", "القاهرة") == 1.0
    assert token_f1("القاهرة، مصر", "القاهرة") == pytest.approx(2 / 3)


def test_squad_thai_uses_whitespace_tokens_as_the_official_script():
    # a Thai character is a letter, not a word: per-character F1 gave unrelated answers partial credit
    assert squad_tokens(squad_normalize("สวัสดี ครับ")) == ["สวัสดี", "ครับ"]
    assert token_f1("สวัสดีครับ", "สวัสดี") == 0.0
    assert token_f1("สวัสดี ครับ", "สวัสดี") == pytest.approx(2 / 3)  # P 1/2, R 1


def test_unrelated_thai_answers_get_no_f1():
    document = json.loads((SAMPLES / "xquad.th.json").read_text(encoding="utf-8"))
    answers = [
        qa["answers"][0]["text"]
        for article in document["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    pairs = [
        (a, b) for a, b in zip(answers, answers[1:], strict=False) if a != b and a not in b and b not in a
    ]
    assert len(pairs) >= 20
    scores = [token_f1(a, b) for a, b in pairs]
    assert sum(score > 0 for score in scores) <= len(scores) // 10


def test_answer_contained_is_the_gold_inside_the_answer():
    assert answer_contained("It was the Denver Broncos.", "Denver Broncos") == 1.0
    assert answer_contained("Broncos", "Denver Broncos") == 0.0  # a part of the gold is not the gold
    assert answer_contained("Panthers", "Denver Broncos") == 0.0
    assert answer_contained("about 10000 points", "1000") == 0.0  # whole words only
    assert answer_contained("2018年", "2018") == 1.0  # scripts without spaces have no word boundaries
    assert answer_contained("", "Denver Broncos") == 0.0
    assert answer_contained("...", "Denver Broncos") == 0.0  # normalizes to empty
    assert best_over_golds(answer_contained, "x", []) == 0.0


# ---- per-step checks: an output at all (following), a good one (faithful) ----


def test_is_english_script_and_stopwords():
    assert is_english("The Panthers defense gave up just 308 points in the league.")
    assert not is_english("Die Verteidigung der Panthers gab nur 308 Punkte ab und war in der Liga Sechster.")
    assert not is_english("黑豹队的防守只丢了 308 分")
    assert not is_english("الدفاع عن الفهود")
    assert is_english("Denver")  # short: script only
    assert not is_english("308")  # no letters at all


SOURCE = "Where do you keep milk cold?\nA. fridge\nB. oven"
ENGLISH = "Passage: Lady Gaga sang the anthem.\nQuestion: Who sang the anthem?"
T = FollowingThresholds()


def test_a_repetition_is_an_output_even_when_imperfect_and_faithful_only_when_near_verbatim():
    one_line = "Where do you keep milk cold? A. fridge B. oven"
    assert has_output("repeat", one_line, SOURCE, SOURCE, T) and is_faithful(
        "repeat", one_line, SOURCE, SOURCE, T
    )
    question_only = "Where do you keep milk cold?"
    assert has_output("repeat", question_only, SOURCE, SOURCE, T)
    assert not is_faithful("repeat", question_only, SOURCE, SOURCE, T)  # choices left out: F 0.75
    assert not has_output("repeat", "I like turtles very much", SOURCE, SOURCE, T)
    assert not has_output("repeat", "   ", SOURCE, SOURCE, T)


def test_a_verbatim_copy_is_a_paraphrase_output_but_not_a_faithful_one():
    copy, paraphrase = "Where do you keep milk cold?", "In which place is milk kept cold? fridge or oven"
    unrelated = "Completely unrelated words here"
    assert has_output("paraphrase", copy, SOURCE, "", T) and not is_faithful(
        "paraphrase", copy, SOURCE, "", T
    )
    assert has_output("paraphrase", paraphrase, SOURCE, "", T) and is_faithful(
        "paraphrase", paraphrase, SOURCE, "", T
    )
    # following asks only for an output in the paraphrase's place; its quality is the faithful rate
    assert has_output("paraphrase", unrelated, SOURCE, "", T) and not is_faithful(
        "paraphrase", unrelated, SOURCE, "", T
    )
    assert not has_output("paraphrase", "ok", SOURCE, "", T)


def test_a_translation_must_be_english_text_about_the_input():
    translation = "Passage: Lady Gaga performed the anthem.\nQuestion: Who performed the anthem?"
    chinese = "Passage: 女神卡卡演唱了国歌。\nQuestion: 谁演唱了国歌？"
    assert has_output("translate", translation, chinese, ENGLISH, T) and is_faithful(
        "translate", translation, chinese, ENGLISH, T
    )
    assert not has_output("translate", chinese, chinese, ENGLISH, T)  # left in the source language
    assert not has_output("translate", "The weather is nice today and I like it.", chinese, ENGLISH, T)
