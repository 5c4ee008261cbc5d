"""GQA (Hudson and Manning, 2019) test-dev balanced: compositional questions on Visual Genome images, one answer
each — the paper's out-of-domain VQA benchmark (Table 4), scored by exact match after the official VQA answer
normalization (as LLaVA and LAVIS score it).

Source: the balanced questions JSON (`testdev_balanced_questions.json`, with answers) or LLaVA's
`llava_gqa_testdev_balanced.jsonl` (questions only; give `task_options.answers`, a balanced questions JSON, to
score them — without it predictions can be generated but not scored). Example ids are GQA question ids.
Variants, image handling and answer reading: tasks/_vision.py.
"""

from __future__ import annotations

from typing import Any

from seqtune.data.vqa import read_gqa
from seqtune.errors import ConfigError
from seqtune.metrics.vqa import gqa_exact_match, normalize_answer
from seqtune.tasks._text_answers import check_text_gold, golds_of
from seqtune.tasks._vision import VisionTask
from seqtune.tasks.base import TASKS, Example


@TASKS.register("gqa")
class GQA(VisionTask):
    name = "gqa"
    options = (*VisionTask.options, "answers")
    accuracy_definition = (
        "exact match of the answer with the gold answer, both normalized as the official VQA evaluation does "
        "(punctuation, number words → digits, articles, contractions); an invalid answer counts as wrong"
    )

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if source is None:
            raise ConfigError(
                "gqa: give a source: GQA balanced questions JSON or LLaVA's llava_gqa_testdev_balanced.jsonl"
            )
        return self.examples_of(read_gqa(source, options.get("answers")), options)

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        if prediction.get("gold") == []:
            return "gold", (
                "no gold answer (LLaVA's GQA jsonl has none): generate with task_options.answers set to a GQA "
                "balanced questions JSON"
            )
        return check_text_gold(prediction) or super().check_prediction(prediction)

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        if answer is None:
            return {"normalized_answer": None, "correct": False}
        return {
            "normalized_answer": normalize_answer(answer),
            "correct": gqa_exact_match(answer, golds_of(prediction.get("gold"))) == 1.0,
        }
