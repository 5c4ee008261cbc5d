"""translate: the English version of the input.

English records translate to themselves; records from parallel data carry their aligned English input; any other
non-English record is translated by the model (the `model` settings).
"""

from seqtune.steps.base import STEPS, GeneratedTextStep


@STEPS.register("translate")
class TranslateStep(GeneratedTextStep):
    name = "translate"

    def system_prompt(self) -> str:
        return self.context.config.translate_prompt

    def wants_model(self, record) -> bool:
        return record.english_input is None and record.lang != "en"

    def target(self, record) -> str:
        if record.english_input is not None:
            return record.english_input
        if record.lang == "en":
            return record.input
        return self.generated(record)
