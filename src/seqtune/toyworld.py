"""A seeded toy world: instruction data for a tiny model trained from scratch on a CPU in minutes.

A tiny model cannot learn English in minutes, so the demo cannot show the effect of sequential instruction tuning
on Alpaca text. Here every input is built from 32 words of four categories, a vocabulary a 2-layer model can
cover. Every list has four items and every question of a kind the same shape, so each input of a kind is the same
number of tokens: repeating an input then needs only a look back over a fixed distance, not a look-up of each
item by content (in the demo's budget the model still learns the shape of a repeat before its words: README).
The world is written in the formats the rest of seqtune reads:

    train.jsonl   Alpaca records {id, instruction, input, output}: five list tasks (reverse, sort, count the
                  items of a category, name the item of a category, first item) and multiple-choice questions,
                  whose instruction is the `commonsense_qa` task's own; `seqtune augment` makes them sequential
    mc.dev.jsonl  held-out multiple-choice questions in CommonsenseQA's original format (task `commonsense_qa`)
    heldout.dev.jsonl  a question type that is NOT in train.jsonl ("Give the last item of the list."), in the
                  `jsonl` task's format {id, instruction, input, answer}

Regenerate with `python -m seqtune.toyworld OUTPUT_DIR` (same seed and sizes → the same bytes). No evaluation
input occurs in the training data.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

from seqtune.records import write_jsonl
from seqtune.tasks.commonsense_qa import CommonsenseQA, format_question

CATEGORIES: dict[str, list[str]] = {
    "colour": ["red", "blue", "green", "pink", "black", "white", "grey", "gold"],
    "animal": ["cat", "dog", "fox", "owl", "cow", "pig", "bee", "hen"],
    "fruit": ["apple", "pear", "plum", "lime", "fig", "grape", "kiwi", "peach"],
    "tool": ["saw", "axe", "drill", "file", "rake", "hammer", "spade", "knife"],
}
CATEGORY_OF = {word: category for category, words in CATEGORIES.items() for word in words}
WORDS = sorted(CATEGORY_OF)
LABELS = "ABCDE"
LIST_SIZE = 4
MC_INSTRUCTION = CommonsenseQA.instruction
HELDOUT_INSTRUCTION = "Give the last item of the list."
DEFAULT_SIZES = {"train": 1500, "mc": 90, "heldout": 45}

Rng = random.Random
TextTask = Callable[[Rng], tuple[str, list[str], str]]
"""A list task: rng → (instruction, the list, answer)."""
McTask = Callable[[Rng], tuple[str, list[str], int]]
"""A multiple-choice question: rng → (question, five choices, index of the correct one)."""


def _distinct(rng: Rng) -> list[str]:
    return rng.sample(WORDS, LIST_SIZE)


def _one_of(rng: Rng, category: str, size: int) -> list[str]:
    """`size` distinct words of which exactly one is in `category`, in random order."""
    others = [word for word in WORDS if CATEGORY_OF[word] != category]
    items = [rng.choice(CATEGORIES[category]), *rng.sample(others, size - 1)]
    rng.shuffle(items)
    return items


def _render(items: list[str]) -> str:
    return ", ".join(items)


def _article(category: str) -> str:
    return f"an {category}" if category[0] in "aeiou" else f"a {category}"


# ---- list tasks with a text answer ----


def reverse(rng: Rng) -> tuple[str, list[str], str]:
    items = _distinct(rng)
    return "Reverse the order of the items in the list.", items, _render(items[::-1])


def sort(rng: Rng) -> tuple[str, list[str], str]:
    items = _distinct(rng)
    return "Sort the items in the list alphabetically.", items, _render(sorted(items))


def count(rng: Rng) -> tuple[str, list[str], str]:
    category = rng.choice(sorted(CATEGORIES))
    items = _distinct(rng)
    answer = sum(CATEGORY_OF[word] == category for word in items)
    return f"Count the {category} items in the list.", items, str(answer)


def name_category(rng: Rng) -> tuple[str, list[str], str]:
    category = rng.choice(sorted(CATEGORIES))
    items = _one_of(rng, category, LIST_SIZE)
    answer = next(word for word in items if CATEGORY_OF[word] == category)
    return f"Name the {category} in the list.", items, answer


def first_item(rng: Rng) -> tuple[str, list[str], str]:
    items = _distinct(rng)
    return "Give the first item of the list.", items, items[0]


def last_item(rng: Rng) -> tuple[str, list[str], str]:
    """The held-out question type: never in the training data."""
    items = _distinct(rng)
    return HELDOUT_INSTRUCTION, items, items[-1]


TRAIN_TEXT_TASKS: list[TextTask] = [reverse, sort, count, name_category, first_item]


# ---- multiple-choice questions (exactly one correct choice each) ----


def mc_category(rng: Rng) -> tuple[str, list[str], int]:
    category = rng.choice(sorted(CATEGORIES))
    choices = _one_of(rng, category, len(LABELS))
    answer = next(i for i, word in enumerate(choices) if CATEGORY_OF[word] == category)
    return f"Which of these is {_article(category)}?", choices, answer


def mc_in_list(rng: Rng) -> tuple[str, list[str], int]:
    items = _distinct(rng)
    outside = rng.sample([word for word in WORDS if word not in items], len(LABELS) - 1)
    choices = [rng.choice(items), *outside]
    rng.shuffle(choices)
    answer = next(i for i, word in enumerate(choices) if word in items)
    return f"Which word is in the list {_render(items)}?", choices, answer


def mc_first(rng: Rng) -> tuple[str, list[str], int]:
    items = _distinct(rng)
    outside = rng.sample([word for word in WORDS if word not in items], len(LABELS) - len(items))
    choices = items + outside
    rng.shuffle(choices)
    return f"Which word comes first in the list {_render(items)}?", choices, choices.index(items[0])


MC_TASKS: list[McTask] = [mc_category, mc_in_list, mc_first]


# ---- the world ----


def _mc_input(question: str, choices: list[str]) -> str:
    """The question as the `commonsense_qa` task shows it, so training and evaluation inputs look the same."""
    return format_question(question, dict(zip(LABELS, choices, strict=True)))


def _unique(rng: Rng, draw: Callable[[Rng], tuple], key: Callable[[tuple], str], seen: set[str]) -> tuple:
    """A draw whose key is not in `seen` yet (the key is added): no input is asked twice or leaks into training."""
    while True:
        item = draw(rng)
        if key(item) not in seen:
            seen.add(key(item))
            return item


def generate_world(seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """{file name: records}. Evaluation questions are drawn first and excluded from the training draws."""
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    rng = random.Random(seed)
    seen: set[str] = set()

    def mc_key(item: tuple) -> str:
        return _mc_input(item[0], item[1])

    def text_key(item: tuple) -> str:
        return item[0] + "\n" + _render(item[1])

    mc_dev = []
    for index in range(sizes["mc"]):
        question, choices, answer = _unique(rng, MC_TASKS[index % len(MC_TASKS)], mc_key, seen)
        mc_dev.append(
            {
                "id": f"toy-mc-{index}",
                "question": {
                    "stem": question,
                    "choices": [
                        {"label": label, "text": text} for label, text in zip(LABELS, choices, strict=True)
                    ],
                },
                "answerKey": LABELS[answer],
            }
        )
    heldout = []
    for index in range(sizes["heldout"]):
        instruction, items, answer = _unique(rng, last_item, text_key, seen)
        heldout.append(
            {"id": f"toy-last-{index}", "instruction": instruction, "input": _render(items), "answer": answer}
        )
    # the task types take turns: 3 of every 8 training records are multiple-choice questions
    train_tasks = [(task, True) for task in MC_TASKS] + [(task, False) for task in TRAIN_TEXT_TASKS]
    train = []
    for index in range(sizes["train"]):
        task, multiple_choice = train_tasks[index % len(train_tasks)]
        if multiple_choice:
            question, choices, answer = _unique(rng, task, mc_key, seen)
            record = (MC_INSTRUCTION, _mc_input(question, choices), f"Answer: {LABELS[answer]}")
        else:
            instruction, items, answer = _unique(rng, task, text_key, seen)
            record = (instruction, _render(items), answer)
        train.append(
            dict(zip(("id", "instruction", "input", "output"), (f"toy-{index}", *record), strict=True))
        )
    return {"train.jsonl": train, "mc.dev.jsonl": mc_dev, "heldout.dev.jsonl": heldout}


def write_world(folder: str | Path, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """Write the world's files into `folder` (atomically, each); returns the record count per file."""
    return {
        name: write_jsonl(Path(folder) / name, records)
        for name, records in generate_world(seed, sizes).items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seqtune.toyworld", description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="folder for train.jsonl, mc.dev.jsonl and heldout.dev.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    for name, default in DEFAULT_SIZES.items():
        parser.add_argument(
            f"--{name}", type=int, default=default, help=f"records in {name} (default {default})"
        )
    args = parser.parse_args(argv)
    sizes = {name: getattr(args, name) for name in DEFAULT_SIZES}
    for name, value in sizes.items():
        if value < 1:
            parser.error(f"--{name}: must be at least 1, got {value}")
    for name, written in write_world(args.output_dir, args.seed, sizes).items():
        print(f"{Path(args.output_dir) / name}: {written} records")


if __name__ == "__main__":
    main()
