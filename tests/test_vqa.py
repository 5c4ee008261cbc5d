"""Visual question answering: readers of the official formats, the official VQA accuracy (hand-computed cases of
each rule), the vqav2/gqa tasks (prompts, SIT (neg.), scoring of responses written the way models write them) and
the ShapeWorld image set."""

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from seqtune.data.vqa import (
    check_images,
    instruction_records,
    read_captions,
    read_gqa,
    read_vqav2,
    target_answer,
    target_caption,
)
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.metrics.vqa import (
    gqa_exact_match,
    normalize_answer,
    normalize_punctuation,
    normalize_words,
    vqa_accuracy,
)
from seqtune.score import ScoreOptions
from seqtune.shapeworld import Shape, build_shapeworld, captions_of, questions_of, render_png
from seqtune.tasks import TASKS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vqa"
VQAV2 = FIXTURES / "vqav2"
CAPTIONS = FIXTURES / "captions_val2014.json"
IMAGES = FIXTURES / "images"
IMAGE_1 = "val2014/COCO_val2014_000000000001.jpg"


# ---- the official VQA accuracy ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello, world", "hello world"),  # a mark next to a space is deleted
        ("black/white", "black white"),  # a mark with no space beside it becomes a space
        ("1,000", "1000"),  # a number with a comma: every mark is deleted
        ("3.5", "3.5"),  # a period before a digit stays
        ("end.", "end"),  # any other period is deleted
        ("it's", "it s"),  # the apostrophe is one of the marks
        ("yes!", "yes!"),  # "!" is not one of the official marks
    ],
)
def test_punctuation_rule(text, expected):
    assert normalize_punctuation(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Two Dogs", "2 dogs"),  # lower case, number words become digits
        ("none", "0"),
        ("ten", "10"),
        ("eleven", "eleven"),  # only zero .. ten are mapped
        ("the cat", "cat"),  # articles dropped
        ("An apple a day", "apple day"),
        ("dont", "don’t"),  # contractions without their apostrophe are restored (typographic apostrophe)
        ("cant", "can't"),  # ... a few with a plain one, as the official table has them
        ("couldnt’ve", "couldn’t’ve"),
        ("whats up", "what’s up"),
    ],
)
def test_word_rule(text, expected):
    assert normalize_words(text) == expected


def test_response_normalization_chains_both_passes():
    assert normalize_answer("  The Two\tdogs.\n") == "2 dogs"


def _humans(matching: int) -> list[str]:
    return ["red"] * matching + ["blue"] * (10 - matching)


@pytest.mark.parametrize(
    ("matching", "expected"),
    # k of 10 humans gave the answer: k subsets leave one of them out (k-1 others match), 10-k keep all k
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)],
)
def test_vqa_accuracy_leave_one_out(matching, expected):
    assert vqa_accuracy("red", _humans(matching)) == pytest.approx(expected)


def test_vqa_accuracy_with_fewer_humans():
    # 3 humans, 2 match: leaving out a match leaves 1 (1/3), leaving out the other leaves 2 (2/3) → (1/3+1/3+2/3)/3
    assert vqa_accuracy("cat", ["cat", "cat", "dog"]) == pytest.approx(4 / 9)


def test_vqa_accuracy_normalizes_the_response_and_not_the_humans_words():
    assert vqa_accuracy("Two.", ["2"] * 10) == 1.0
    # human answers get the punctuation pass only, and only when they differ (the official script's rule)
    assert vqa_accuracy("it's", ["it's"] * 9 + ["no"]) == 1.0
    assert vqa_accuracy("it's", ["it's"] * 10) == 0.0
    assert vqa_accuracy("two", ["two"] * 10) == 0.0


def test_gqa_exact_match_after_normalization():
    assert gqa_exact_match("The Woman.", ["woman"]) == 1.0
    assert gqa_exact_match("two", ["2"]) == 1.0
    assert gqa_exact_match("women", ["woman"]) == 0.0
    assert gqa_exact_match("woman", ["The woman"]) == 1.0  # the gold is normalized too


# ---- readers ----


def test_vqav2_official_folder():
    records = read_vqav2(VQAV2)
    assert [r.question_id for r in records] == ["1000", "1001", "2000", "2001"]
    first = records[0]
    assert (first.question, first.image, first.image_id) == ("What colour is the circle?", IMAGE_1, 1)
    assert first.answers == ["red"] * 7 + ["orange", "red", "red"]
    assert first.answer_type == "other"


def test_vqav2_lavis_file_reads_the_same_questions():
    lavis = {r.question_id: (r.question, r.image, r.answers) for r in read_vqav2(FIXTURES / "vqa_val.json")}
    official = {r.question_id: (r.question, r.image, r.answers) for r in read_vqav2(VQAV2)}
    assert lavis == {key: official[key] for key in ("1000", "2000")}


def test_vqav2_smallval_folder_matches_its_flattened_copy(shared_data):
    folder = shared_data / "vision" / "vqav2_smallval"
    official = [(r.question_id, r.question, r.image, r.answers) for r in read_vqav2(folder)]
    flattened = [
        (r.question_id, r.question, r.image, r.answers) for r in read_vqav2(folder / "smallval_meta.json")
    ]
    assert len(official) == 589
    assert sorted(official) == sorted(
        flattened
    )  # "valsmall" images are val2014 images, named as LAVIS names them


def test_vqav2_bad_folders(tmp_path):
    shutil.copy(VQAV2 / "v2_OpenEnded_mscoco_val2014_questions.json", tmp_path)
    with pytest.raises(SeqtuneError, match="exactly one VQA annotations file"):
        read_vqav2(tmp_path)
    annotations = json.loads((VQAV2 / "v2_mscoco_val2014_annotations.json").read_text())
    annotations["annotations"].pop()
    (tmp_path / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(annotations))
    with pytest.raises(SeqtuneError, match="question 2001 has no annotation"):
        read_vqav2(tmp_path)


def test_gqa_balanced_and_llava_files():
    balanced = read_gqa(FIXTURES / "testdev_balanced_questions.json")
    assert [(r.question_id, r.question, r.image, r.answers) for r in balanced] == [
        ("201307251", "Is it overcast?", "n161313.jpg", ["no"]),
        ("201640614", "Who is wearing the dress?", "n235859.jpg", ["woman"]),
    ]
    llava = read_gqa(FIXTURES / "llava_gqa_testdev_balanced.jsonl")
    assert [(r.question, r.answers) for r in llava] == [
        ("Is it overcast?", []),
        ("Who is wearing the dress?", []),
    ]
    answered = read_gqa(
        FIXTURES / "llava_gqa_testdev_balanced.jsonl", FIXTURES / "testdev_balanced_questions.json"
    )
    assert [r.answers for r in answered] == [["no"], ["woman"]]


def test_caption_formats():
    coco = read_captions(CAPTIONS)
    assert {key: len(value) for key, value in coco.items()} == {1: 5, 2: 5, 3: 2}
    karpathy = read_captions(FIXTURES / "dataset_coco.json")
    assert karpathy == {1: ["A red circle.", "A picture of a red circle."], 2: ["Two blue squares."]}
    assert read_captions(FIXTURES / "dataset_coco.json", split="train") == {2: ["Two blue squares."]}
    lavis = read_captions(FIXTURES / "coco_karpathy_train.json")
    assert lavis == {1: ["a red circle on white", "a circle that is red"], 2: ["two blue squares"]}
    # LAVIS' val/test files list every caption of an image in one record
    assert read_captions(FIXTURES / "coco_karpathy_val.json") == {
        3: ["a yellow triangle", "a triangle that is yellow"]
    }


def test_missing_and_unreadable_images(tmp_path):
    records = read_vqav2(VQAV2)
    kept, skipped = check_images(records, IMAGES)
    assert len(kept) == 4 and not skipped
    shutil.copytree(IMAGES, tmp_path / "images")
    (tmp_path / "images" / IMAGE_1).write_text("not an image")
    (tmp_path / "images" / "val2014" / "COCO_val2014_000000000002.jpg").unlink()
    with pytest.raises(RecordError, match=r"COCO_val2014_000000000001\.jpg: not a PNG"):
        check_images(records, tmp_path / "images")
    kept, skipped = check_images(records, tmp_path / "images", on_error="skip")
    assert kept == [] and skipped == {"unreadable_image": 2, "missing_image": 2}


def test_target_answer_is_the_most_frequent_and_ties_are_seeded():
    records = {r.question_id: r for r in read_vqav2(VQAV2)}
    assert target_answer(records["1000"]) == "red"
    assert target_answer(records["1001"]) == "no"
    tied = records["2001"]  # square ×4, squares ×4, box ×2
    picks = {seed: target_answer(tied, seed) for seed in range(20)}
    assert set(picks.values()) == {"square", "squares"}
    assert picks == {seed: target_answer(tied, seed) for seed in range(20)}


def test_target_caption_is_one_per_image_and_seeded():
    captions = read_captions(CAPTIONS)[1]
    assert len({target_caption(captions, 1, seed) for seed in range(30)}) > 1
    assert target_caption(captions, 1, 7) == target_caption(list(captions), 1, 7)


def test_instruction_records_it_and_sit():
    records = read_vqav2(VQAV2)
    captions = read_captions(CAPTIONS)
    captions.pop(2)  # image 2 has no caption: its questions get no SIT record
    it, sit, skipped = instruction_records(records, captions, seed=3, image_root="/data/coco")
    assert [r["id"] for r in it] == ["1000", "1001", "2000", "2001"]
    assert it[0] == {
        "id": "1000",
        "source_id": "1000",
        "kind": "original",
        "instruction": "Answer the input question based on the image",
        "input": "What colour is the circle?",
        "output": "red",
        "steps": [],
        "final": "red",
        "template": "",
        "lang": "en",
        "image": f"/data/coco/{IMAGE_1}",
    }
    assert [r["id"] for r in sit] == ["1000:caption", "1001:caption"]
    caption = target_caption(captions[1], 1, 3)
    assert (
        sit[1]["instruction"] == "First describe the image, then answer the input question based on the image"
    )
    assert sit[1]["output"] == f"{caption}\nno"
    assert (
        sit[0]["steps"] == sit[1]["steps"] == [{"task": "caption", "target": caption}]
    )  # one caption per image
    assert skipped == {"no_caption": 2}


# ---- tasks ----


def _task(name="vqav2", **options):
    task = TASKS.get(name)()
    source = VQAV2 if name == "vqav2" else FIXTURES / "testdev_balanced_questions.json"
    task.load(str(source), **options)
    return task


def _prediction(task, example_id: str, variant: str, response: str) -> dict:
    example = next(e for e in task.examples if e.id == example_id)
    spec = task.build_prompt(example, variant)
    return {
        "id": example.id,
        "task": task.name,
        "variant": variant,
        "prompt": spec.instruction,
        "response": response,
        **task.prediction_fields(example, spec),
    }


def _score(task, example_id, variant, response) -> dict:
    return task.score(_prediction(task, example_id, variant, response), ScoreOptions())


def test_tasks_are_registered():
    assert {"vqav2", "gqa"} <= set(TASKS.names())


def test_prompts_and_the_image_in_the_prediction():
    task = _task()
    example = task.examples[0]
    plain = task.build_prompt(example, "plain")
    assert (plain.instruction, plain.input, plain.steps) == (
        "Answer the input question based on the image",
        "What colour is the circle?",
        [],
    )
    caption = task.build_prompt(example, "caption")
    assert (
        caption.instruction == "First describe the image, then answer the input question based on the image"
    )
    assert (caption.steps, caption.template, caption.response_prefix) == (["caption"], "caption/paper", "")
    unseen = task.build_prompt(example, "caption-unseen")
    assert unseen.template_split == "unseen" and unseen.instruction != caption.instruction
    assert task.prediction_fields(example, plain)["image"] == IMAGE_1  # no image needed to score
    rooted = _task(image_root=str(IMAGES))
    assert rooted.prediction_fields(rooted.examples[0], plain)["image"] == str(IMAGES / IMAGE_1)


def test_neg_prefix_is_a_seeded_caption_of_another_image():
    captions = read_captions(CAPTIONS)
    task = _task(captions=str(CAPTIONS))
    prefixes = {}
    for example in task.examples:
        prefix = task.build_prompt(example, "caption-neg").response_prefix
        image_id = example.meta["image_id"]
        assert prefix.endswith("\n")
        others = [c for key, texts in captions.items() if key != image_id for c in texts]
        assert prefix.strip() in others
        prefixes[example.id] = prefix
    again = _task(captions=str(CAPTIONS))
    again.examples.reverse()  # the draw depends on the example id, not on the order
    assert {e.id: again.build_prompt(e, "caption-neg").response_prefix for e in again.examples} == prefixes
    with pytest.raises(ConfigError, match="need task_options.captions"):
        _task().build_prompt(task.examples[0], "caption-neg")


@pytest.mark.parametrize(
    ("example_id", "variant", "response", "answer", "accuracy", "followed"),
    [
        ("1000", "plain", "Red.", "Red", 1.0, True),  # 9 of 10 humans said red
        ("1000", "plain", "orange", "orange", 0.3, True),  # 1 of 10
        ("1000", "plain", "What colour is the circle?\nRed", "Red", 1.0, True),  # the question is no answer
        ("1000", "plain", "I cannot tell from the image.", None, 0.0, False),
        ("1001", "plain", "yes, there is", "yes", 0.9, True),  # 3 of 10 said yes
        ("2000", "plain", "two", "two", 1.0, True),
        ("2000", "plain", "2. There are two blue squares.", "2", 1.0, True),  # the first sentence only
        ("2000", "plain", "The answer is 2", "2", 1.0, True),
        ("2000", "plain", "There are two squares.", "There are two squares", 0.0, True),
        ("2001", "plain", "A dog.", "A dog", 0.0, True),
        ("2001", "plain", "box", "box", 0.6, True),
        ("2001", "plain", "The", None, 0.0, False),  # cut off: nothing is left once articles are dropped
        ("1000", "caption", "Caption: a red circle on a white background.\nAnswer: red", "red", 1.0, True),
        ("2000", "caption", "Two blue squares on a white canvas.\nThe answer is 2.", "2", 1.0, True),
    ],
)
def test_vqav2_scores_responses(example_id, variant, response, answer, accuracy, followed):
    record = _score(_task(captions=str(CAPTIONS)), example_id, variant, response)
    assert (record["answer"], record["followed"]) == (answer, followed)
    assert record["correct"] == pytest.approx(accuracy)  # the fractional VQA accuracy, not a truth value


def test_caption_step_output_and_rouge_against_every_reference():
    record = _score(
        _task(captions=str(CAPTIONS)), "1000", "caption", "A red circle on a white background.\nAnswer: red"
    )
    assert record["segments"] == ["A red circle on a white background."]
    assert record["step_output"] == [True]
    # best reference: "A red circle on a plain white background." — LCS 7 of 7 and 8 tokens: F = 14/15
    assert record["rouge_l"] == [pytest.approx(14 / 15)]
    no_references = _score(_task(), "1000", "caption", "A red circle.\nred")
    assert no_references["rouge_l"] == [None] and no_references["followed"]


def test_neg_prefix_is_the_caption_segment():
    task = _task(captions=str(CAPTIONS))
    prediction = _prediction(task, "2000", "caption-neg", "2")
    record = task.score(prediction, ScoreOptions())
    assert record["segments"] == [prediction["response_prefix"].strip()]
    assert (record["answer"], record["correct"], record["followed"]) == ("2", 1.0, True)


def test_gqa_scores_exact_match():
    task = _task("gqa")
    assert _score(task, "201307251", "plain", "No, it is clear.")["correct"] is True
    assert _score(task, "201640614", "plain", "The woman.")["correct"] is True
    assert _score(task, "201640614", "plain", "women")["correct"] is False


def test_gqa_without_answers_cannot_be_scored():
    task = TASKS.get("gqa")()
    task.load(str(FIXTURES / "llava_gqa_testdev_balanced.jsonl"))
    problem = task.check_prediction(_prediction(task, "201307251", "plain", "no"))
    assert problem is not None and problem[0] == "gold" and "task_options.answers" in problem[1]
    task.load(
        str(FIXTURES / "llava_gqa_testdev_balanced.jsonl"),
        answers=str(FIXTURES / "testdev_balanced_questions.json"),
    )
    assert task.check_prediction(_prediction(task, "201307251", "plain", "no")) is None


# ---- ShapeWorld ----


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shapeworld_is_deterministic_and_read_unchanged(tmp_path):
    counts = build_shapeworld(tmp_path / "a", seed=5, train_images=4, val_images=3, size=16)
    build_shapeworld(tmp_path / "b", seed=5, train_images=4, val_images=3, size=16)
    build_shapeworld(tmp_path / "c", seed=6, train_images=4, val_images=3, size=16)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    val = read_vqav2(tmp_path / "a" / "vqav2_val")
    assert len(val) == counts["val"] and all(len(r.answers) == 10 for r in val)
    captions = read_captions(tmp_path / "a" / "captions" / "captions_val2014.json")
    assert sorted(captions) == [5, 6, 7] and all(len(texts) == 5 for texts in captions.values())
    assert len(check_images(val, tmp_path / "a" / "images")[0]) == len(val)


def _pixel(png: bytes, x: int, y: int, size: int) -> tuple[int, int, int]:
    (length,) = struct.unpack(">I", png[33:37])  # the IDAT chunk follows the 8-byte signature and IHDR
    rows = zlib.decompress(png[41 : 41 + length])
    start = y * (1 + 3 * size) + 1 + 3 * x
    return tuple(rows[start : start + 3])


def test_shapeworld_content_matches_questions_and_captions():
    import random

    shapes = [
        Shape("circle", "red", 8, 8, 6),
        Shape("square", "blue", 24, 8, 6),
        Shape("square", "blue", 8, 24, 6),
    ]
    png = render_png(shapes, 32)
    assert _pixel(png, 8, 8, 32) == (220, 40, 40) and _pixel(png, 24, 24, 32) == (255, 255, 255)
    triangle = render_png(
        [Shape("triangle", "green", 8, 8, 6)], 16
    )  # apex (8, 2), base from (2, 14) to (14, 14)
    assert _pixel(triangle, 8, 12, 16) == (40, 170, 60) and _pixel(triangle, 3, 4, 16) == (255, 255, 255)
    assert all(
        "a red circle" in c.lower() and "two blue squares" in c for c in captions_of(shapes, random.Random(0))
    )
    for question in questions_of(shapes, random.Random(1), noise=0.0):
        truth = {"What colour is the circle?": "red", "How many squares are there?": "2"}.get(
            question["question"]
        )
        if question["question"].startswith("Is there"):
            truth = "no" if "triangle" in question["question"] else "yes"
        if question["question"].startswith("How many") and "square" not in question["question"]:
            truth = "1" if "circle" in question["question"] else "0"
        assert question["answers"] == [truth] * 10
