"""paraphrase: a model rewrites the input (system prompt: the paper's "Paraphrase the input sentence given by user.")."""

from seqtune.steps.base import STEPS, GeneratedTextStep


@STEPS.register("paraphrase")
class ParaphraseStep(GeneratedTextStep):
    name = "paraphrase"

    def system_prompt(self) -> str:
        return self.context.config.paraphrase_prompt

    def target(self, record) -> str:
        return self.generated(record)
