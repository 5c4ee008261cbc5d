"""Multimodal SIT end to end on the CPU: ShapeWorld → `seqtune run` (augment from the VQA files, a tiny
InstructBLIP shared by the arms, Q-Former training of IT and SIT, an untuned arm) → generate with the images
(backend hf) → score → a report holding Table 4. The tiny model learns little in two steps: this test is about
the stages fitting together (every file one stage writes is what the next one reads), not about the numbers."""

import csv
import json
from pathlib import Path

import pytest

from seqtune.cli import main
from seqtune.data.vqa import read_vqav2, target_answer
from seqtune.shapeworld import build_shapeworld

QUESTIONS = 4  # per task, the first ones (`limit`)
VARIANTS = ["plain", "caption", "caption-neg"]


def _gqa_file(world: Path) -> Path:
    """The val questions in GQA's balanced questions format (an out-of-domain set is not the point here: the gqa
    task's reading, images and exact-match scoring are). Its imageId names the ShapeWorld image without '.jpg'."""
    questions = {
        f"g{q.question_id}": {
            "imageId": q.image.removesuffix(".jpg"),
            "question": q.question,
            "answer": target_answer(q),
        }
        for q in read_vqav2(world / "vqav2_val")
    }
    path = world / "gqa_testdev_balanced_questions.json"
    path.write_text(json.dumps(questions), encoding="utf-8")
    return path


def _all_captions(world: Path) -> Path:
    """Train and val captions in one COCO file: the val images' references (caption ROUGE-L) and the pool the
    SIT (neg.) descriptions are drawn from."""
    files = [world / "captions" / f"captions_{split}.json" for split in ("train2014", "val2014")]
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    merged = {
        key: [item for document in documents for item in document[key]] for key in ("images", "annotations")
    }
    path = world / "captions" / "captions_all.json"
    path.write_text(json.dumps(merged), encoding="utf-8")
    return path


def _config(tmp_path: Path, world: Path) -> Path:
    images, captions = world / "images", world / "captions" / "captions_train2014.json"
    options = {"image_root": str(images), "captions": str(_all_captions(world))}
    config = {
        "output_dir": str(tmp_path / "run"),
        "augment": {
            "vqa": [str(world / "vqav2_train")],
            "captions": str(captions),
            "image_root": str(images),
        },
        "arms": {"base": {"untuned": True}, "IT": {"data": "original"}, "SIT": {"data": "augmented"}},
        "train": {
            "model": "tiny-instructblip",
            "finetune": "qformer",
            "tiny_hidden_size": 32,
            "tiny_layers": 1,
            "tiny_vocab_size": 300,
            "max_steps": 2,
            "global_batch_size": 4,
            "micro_batch_size": 4,
            "dev_size": 0,
            "keep_best": False,
            "report_to": "none",
        },
        "generate": {"backend": "hf", "max_new_tokens": 6, "batch_size": 8},
        "eval": [
            {
                "task": "vqav2",
                "data": str(world / "vqav2_val"),
                "limit": QUESTIONS,
                "variants": VARIANTS,
                "task_options": options,
            },
            {
                "task": "gqa",
                "data": str(_gqa_file(world)),
                "limit": QUESTIONS,
                "variants": VARIANTS,
                "task_options": options,
            },
        ],
    }
    path = tmp_path / "vqa.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_shapeworld_augment_train_generate_score_report_table4(tmp_path):
    world = tmp_path / "world"
    build_shapeworld(world, seed=0, train_images=8, val_images=2)
    assert main(["run", str(_config(tmp_path, world))]) == 0
    root = tmp_path / "run"

    data = _lines(root / "augment" / "data.jsonl")
    assert {r["kind"] for r in data} == {"original", "sequential"}
    assert {r["kind"] for r in _lines(root / "augment" / "original.jsonl")} == {"original"}

    for arm in ("base", "IT", "SIT"):
        for task in ("vqav2", "gqa"):
            folder = root / "eval" / arm / task
            predictions = _lines(folder / "predictions.jsonl")
            assert sorted({p["variant"] for p in predictions}) == sorted(VARIANTS)
            assert len(predictions) == QUESTIONS * len(VARIANTS)
            assert all(Path(p["image"]).is_file() for p in predictions)  # the model was shown the image
            forced = [p for p in predictions if p["variant"] == "caption-neg"]
            assert all(p["response_prefix"] for p in forced)  # another image's caption, forced
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            assert {entry["n"] for entry in summary} == {QUESTIONS}

    table = list(csv.reader((root / "report" / "table4.csv").read_text(encoding="utf-8").splitlines()))
    assert table[0] == ["Model", "Method", "VQAv2 (in D)", "GQA (out D)"]
    assert [row[:2] for row in table[1:]] == [
        ["base", "prompt"],
        ["IT", "IT"],
        ["SIT", "SIT"],
        ["SIT", "SIT (neg.)"],
    ]
    assert all(0 <= float(cell) <= 100 for row in table[1:] for cell in row[2:])
    report = (root / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Table 4: InstructBLIP on VQAv2 and GQA" in report
    extra = {(row[0], row[1]): row for row in csv.reader((root / "report" / "extra_table4.csv").open())}
    # the forced description of another image is scored against this image's reference captions
    assert 0 < float(extra[("SIT", "SIT (neg.)")][3]) < 100

    # the arms start from one tiny InstructBLIP and differ in their data only
    for arm, data in (("IT", "original.jsonl"), ("SIT", "data.jsonl")):
        trained = json.loads((root / "train" / arm / "manifest.json").read_text(encoding="utf-8"))["config"]
        assert trained["model"] == str(root / "base_model") and trained["data"] == str(
            root / "augment" / data
        )
