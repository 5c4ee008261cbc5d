"""Tasks: loading local files (samples, the real shared data), prompt variants, answer extraction."""

import json
from pathlib import Path

import pytest

from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.steps.base import verbalizations
from seqtune.tasks import TASKS
from seqtune.tasks.variants import parse_variant

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"
CSQA = SAMPLES / "commonsense_qa.dev.jsonl"


def csqa(limit=None):
    task = TASKS.get("commonsense_qa")()
    task.load(str(CSQA), limit=limit)
    return task


def test_registry_lists_every_task():
    assert {"commonsense_qa", "xquad", "probe", "jsonl"} <= set(TASKS.names())


def test_commonsense_qa_sample_questions_have_lettered_choices():
    task = csqa()
    assert len(task.examples) == 60
    first = task.examples[0]
    assert first.question.splitlines()[1:] == [
        "A. bank",
        "B. library",
        "C. department store",
        "D. mall",
        "E. new york",
    ]
    assert first.gold == "A" and first.meta["choices"]["E"] == "new york"


def test_commonsense_qa_real_dev_split(shared_data):
    task = TASKS.get("commonsense_qa")()
    examples = task.load(str(shared_data / "commonsense_qa" / "dev_rand_split.jsonl"))
    assert len(examples) == 1221
    assert all(example.gold in example.meta["choices"] for example in examples)


def test_commonsense_qa_reads_the_hub_format(tmp_path):
    path = tmp_path / "hub.jsonl"
    row = {
        "id": "q1",
        "question": "Sky colour?",
        "choices": {"label": ["A", "B"], "text": ["blue", "green"]},
        "answerKey": "A",
    }
    path.write_text(json.dumps(row) + "\n")
    (example,) = TASKS.get("commonsense_qa")().load(str(path))
    assert example.question == "Sky colour?\nA. blue\nB. green" and example.gold == "A"


def test_commonsense_qa_bad_record_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.loads(CSQA.read_text().splitlines()[0])
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answerKey": "Z"}) + "\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:line 2: field 'answerKey'"):
        TASKS.get("commonsense_qa")().load(str(path))
    assert len(TASKS.get("commonsense_qa")().load(str(path), on_error="skip")) == 1


def test_variant_names_and_parsing():
    names = csqa(5).variant_names()
    assert names[:7] == [
        "plain",
        "repeat",
        "repeat-unseen",
        "repeat-unseen2",
        "repeat-unseen3",
        "repeat-neg",
        "repeat-unseen-neg",
    ]
    assert "translate" not in names  # CommonsenseQA is English
    assert "translate-unseen" in TASKS.get("xquad")().variant_names()
    assert parse_variant("paraphrase_repeat_paraphrase-unseen-neg").steps == (
        "paraphrase",
        "repeat",
        "paraphrase",
    )
    for bad in ("plain-neg", "repeat-neg-unseen", "nonsense", "repeat-unseen4", "repeat-unseen2-neg"):
        with pytest.raises(ConfigError):
            parse_variant(bad)


def test_sequential_prompt_uses_the_seen_verbalization_and_keeps_the_input():
    task = csqa(5)
    example = task.examples[0]
    spec = task.build_prompt(example, "repeat")
    assert (
        spec.instruction
        == "First repeat the input, then answer the question in the input by selecting the correct choice."
    )
    assert spec.input == example.question and spec.expected == [example.question]
    assert (spec.template, spec.template_split, spec.response_prefix) == ("repeat/paper", "seen", "")
    plain = task.build_prompt(example, "plain")
    assert plain.steps == [] and plain.instruction == task.instruction and plain.template == ""


def test_unseen_variant_uses_only_unseen_verbalizations():
    task = csqa(5)
    spec = task.build_prompt(task.examples[0], "repeat_paraphrase-unseen")
    unseen_ids = {v.id for step in ("repeat", "paraphrase") for v in verbalizations(step, "unseen")}
    assert spec.template_split == "unseen"
    assert set(spec.template.split("+")) <= unseen_ids
    assert spec.steps == ["repeat", "paraphrase"] and spec.expected[1] == ""  # no single right paraphrase


def test_negative_variant_forces_another_examples_text_deterministically():
    task = csqa(10)
    prefixes = [task.build_prompt(example, "repeat-neg").response_prefix for example in task.examples]
    assert all(prefix.endswith("\n") for prefix in prefixes)
    questions = [example.question for example in task.examples]
    for example, prefix in zip(task.examples, prefixes, strict=True):
        assert prefix[:-1] in questions and prefix[:-1] != example.question
    assert prefixes == [
        csqa(10).build_prompt(example, "repeat-neg").response_prefix for example in task.examples
    ]


def test_unknown_variant_is_a_config_error():
    task = csqa(2)
    with pytest.raises(ConfigError, match="no variant 'translate'"):
        task.build_prompt(task.examples[0], "translate")


def test_xquad_samples_folder_languages_and_english_reference():
    task = TASKS.get("xquad")()
    examples = task.load(str(SAMPLES), languages=["zh", "th"])
    assert len(examples) == 80 and {e.lang for e in examples} == {"zh", "th"}
    zh = examples[0]
    assert zh.id.startswith("zh/") and zh.question.startswith("Passage: ") and "\nQuestion: " in zh.question
    assert zh.gold == ["308"] and zh.meta["language_split"] == "seen"
    assert zh.meta["english"].startswith("Passage: The Panthers defense")
    spec = task.build_prompt(zh, "translate")
    assert spec.instruction.startswith("First translate the input into English, then answer the question")
    assert spec.expected == [zh.meta["english"]]
    thai = next(e for e in examples if e.lang == "th")
    assert thai.meta["language_split"] == "unseen"


def test_xquad_default_languages_are_the_papers_ten(shared_data):
    examples = TASKS.get("xquad")().load(str(shared_data / "xquad"))
    assert len(examples) == 10 * 1190
    assert {e.lang for e in examples} == {"de", "zh", "ru", "es", "ar", "el", "vi", "hi", "tr", "th"}


def test_xquad_single_file_and_pattern(tmp_path):
    (single,) = {e.lang for e in TASKS.get("xquad")().load(str(SAMPLES / "xquad.ar.json"))}
    assert single == "ar"
    pattern = str(SAMPLES / "xquad.{lang}.json")
    assert len(TASKS.get("xquad")().load(pattern, languages=["de"])) == 40
    with pytest.raises(ConfigError, match="unknown language"):
        TASKS.get("xquad")().load(str(SAMPLES), languages=["xx"])
    with pytest.raises(SeqtuneError, match="no file for language 'de'"):
        TASKS.get("xquad")().load(str(tmp_path), languages=["de"])


def test_probe_has_the_papers_instruction():
    task = TASKS.get("probe")()
    task.load(str(CSQA), limit=3)
    assert task.variant_names() == ["probe"]
    spec = task.build_prompt(task.examples[0], "probe")
    assert spec.instruction == "Please repeat the input and then answer the question in the input."
    assert spec.steps == ["repeat"] and spec.expected == [task.examples[0].question]


def test_generic_jsonl_task(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [
        {"id": "r1", "instruction": "Name the capital.", "input": "France", "answer": "Paris"},
        {"instruction": "Give a colour.", "input": "sky", "answer": ["blue", "azure"], "lang": "en"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = TASKS.get("jsonl")()
    first, second = task.load(str(path))
    assert (first.id, first.gold, second.id, second.gold) == ("r1", ["Paris"], "line 2", ["blue", "azure"])
    assert task.build_prompt(first, "repeat").instruction == "First repeat the input, then name the capital."
    path.write_text(json.dumps({"instruction": "x", "input": "y"}) + "\n")
    with pytest.raises(RecordError, match="line 1: field 'answer'"):
        task.load(str(path))
    with pytest.raises(ConfigError, match="needs a data file"):
        task.load(None)


@pytest.mark.parametrize("choices", [["A. x"], "A,B", [{"label": "A", "text": 3}]])
def test_malformed_commonsense_qa_choices_are_a_record_error(choices, tmp_path):
    import json

    from seqtune.errors import RecordError
    from seqtune.tasks import TASKS

    record = {"id": "q", "answerKey": "A", "question": {"stem": "Why?", "choices": choices}}
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match="dev.jsonl:line 1: field 'choices'"):
        TASKS.get("commonsense_qa")().load(str(path))


def test_xquad_file_without_ids_is_a_one_line_error(tmp_path):
    import json

    from seqtune.errors import SeqtuneError
    from seqtune.tasks import TASKS

    document = {"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q?", "answers": []}]}]}]}
    (tmp_path / "xquad.en.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SeqtuneError, match="xquad.en.json: not in SQuAD v1.1 format"):
        TASKS.get("xquad")().load(str(tmp_path), languages=["en"])


def test_the_sit_authors_evaluation_files_are_read(tmp_path):
    """Their files carry no ids: an example's id is its position, which `backend=responses` matches."""
    import json

    from seqtune.tasks import TASKS

    csqa = {
        "instruction": "Select the correct choice to answer the question in the input",
        "input": "Question: Where do you keep milk cold?\nChoices: A:fridge, B:oven, C:shelf",
        "output": "A",
    }
    (tmp_path / "csqa.json").write_text(json.dumps([csqa, {**csqa, "output": "C"}]), encoding="utf-8")
    examples = TASKS.get("commonsense_qa")().load(str(tmp_path / "csqa.json"))
    assert [(e.id, e.gold) for e in examples] == [("0", "A"), ("1", "C")]
    assert examples[0].question == "Where do you keep milk cold?\nA. fridge\nB. oven\nC. shelf"
    assert examples[0].meta["choices"] == {"A": "fridge", "B": "oven", "C": "shelf"}

    for lang, passage, answer in (
        ("de", "Die Panther gaben nur 308 Punkte ab.", "308 Punkte"),
        ("en", "308 points.", "308"),
    ):
        record = {"instruction": "Answer", "input": f"Passage: {passage}\nQuestion: ?", "output": answer}
        (tmp_path / f"xquad_{lang}.json").write_text(json.dumps([record]), encoding="utf-8")
    (example,) = TASKS.get("xquad")().load(str(tmp_path / "xquad_de.json"))
    assert (example.id, example.lang, example.gold) == ("de/0", "de", ["308 Punkte"])
    assert example.meta["english_answers"] == [
        "308"
    ]  # paired by position: the English gold of translate prompts


def test_the_three_unseen_templates_are_three_different_unseen_phrasings():
    from seqtune.steps.base import verbalizations
    from seqtune.tasks.variants import sequential_instruction

    unseen = {v.id for v in verbalizations("repeat", "unseen")}
    templates = [
        sequential_instruction(parse_variant(v), "Answer.")[1]
        for v in ("repeat-unseen", "repeat-unseen2", "repeat-unseen3")
    ]
    assert len(set(templates)) == 3 and set(templates) <= unseen
