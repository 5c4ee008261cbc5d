"""repeat: the target is the input itself (the paper's main intermediate task)."""

from seqtune.steps.base import STEPS, Step


@STEPS.register("repeat")
class RepeatStep(Step):
    name = "repeat"

    def target(self, record) -> str:
        return record.input
