"""A toy task for generate's tests, registered by the `generate_toy` fixture (the real tasks are tested with
their own files). Test modules use it with `from toy_task import QUESTIONS, generate_toy  # noqa: F401` and
`pytestmark = pytest.mark.usefixtures("generate_toy")`; importing this module registers nothing."""

import pytest

from seqtune.metrics.answers import NO_ANSWER
from seqtune.tasks import TASKS, Example, PromptSpec, Task

QUESTIONS = [
    "Where would you put a plate after washing it?",
    "What do people use to cut paper?",
    "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?",
    "Hi?",
    "Which is the largest planet of the solar system, and which is the smallest one?",
    "Why is the sky blue during the day but dark at night?",
    "Name a fruit.",
]


class ToyTask(Task):
    """Seven questions, ids q0..q6 (task option id_prefix), gold "A"; variants plain, repeat and neg (a forced response start)."""

    name = "generate_toy"
    options = ("on_error", "id_prefix")

    def read(self, source=None, **options):
        prefix = options.get(
            "id_prefix", "q"
        )  # "" gives the ids "0".."6", as a file of integer ids names them
        return [
            Example(id=f"{prefix}{i}", question=q, gold="A", meta={"n": i}) for i, q in enumerate(QUESTIONS)
        ]

    # generate's tests never score the toy task; these two only complete the Task interface
    def extract(self, lines, prediction):
        return NO_ANSWER

    def answer_metrics(self, answer, prediction):
        return {"correct": answer == prediction["gold"]}

    def variant_names(self):
        return ["plain", "repeat", "neg"]

    def build_prompt(self, example, variant):
        if variant == "plain":
            return PromptSpec("Answer the question.", example.question, [], [])
        prefix = "The input is about cats.\n" if variant == "neg" else ""
        return PromptSpec(
            "First repeat the input, then answer the question.",
            example.question,
            ["repeat"],
            [example.question],
            template="repeat/paper",
            response_prefix=prefix,
        )


@pytest.fixture(scope="session")
def generate_toy() -> str:
    """The toy task's name, registered (registering the same class again is a no-op)."""
    TASKS.register(ToyTask.name)(ToyTask)
    return ToyTask.name
