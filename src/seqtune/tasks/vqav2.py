"""VQAv2 (Goyal et al., 2017): open-ended questions on COCO images, ten human answers each — the paper's
in-domain VQA benchmark (Table 4), scored with the official VQA accuracy.

Source: a folder holding the official questions and annotations files (e.g. ../shared/data/vision/vqav2_smallval,
or a ShapeWorld split from `seqtune.shapeworld`), or one LAVIS-style file (`vqa_val.json`); example ids are the
VQA question ids. Variants, image handling and answer reading: tasks/_vision.py.
"""

from __future__ import annotations

from typing import Any

from seqtune.data.vqa import read_vqav2
from seqtune.errors import ConfigError
from seqtune.metrics.vqa import normalize_answer, vqa_accuracy
from seqtune.tasks._text_answers import check_text_gold, golds_of
from seqtune.tasks._vision import VisionTask
from seqtune.tasks.base import TASKS, Example


@TASKS.register("vqav2")
class VQAv2(VisionTask):
    name = "vqav2"
    accuracy_definition = (
        "the official VQA accuracy (GT-Vision-Lab vqaEval.py): the answer normalized as the official script does, "
        "min(#humans who gave it / 3, 1) averaged over the 10 leave-one-out subsets of the 10 human answers "
        "(0.3 / 0.6 / 0.9 / 1 for 1 / 2 / 3 / 4+ matching humans); an invalid answer scores 0"
    )

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if source is None:
            raise ConfigError(
                "vqav2: give a source: a folder with the official VQA questions and annotations files "
                "(e.g. ../shared/data/vision/vqav2_smallval) or a LAVIS-style vqa_*.json file"
            )
        return self.examples_of(read_vqav2(source), options)

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        return check_text_gold(prediction) or super().check_prediction(prediction)

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        if answer is None:
            return {"normalized_answer": None, "vqa_accuracy": 0.0, "correct": 0.0}
        accuracy = vqa_accuracy(answer, golds_of(prediction.get("gold")))
        return {"normalized_answer": normalize_answer(answer), "vqa_accuracy": accuracy, "correct": accuracy}
