"""ShapeWorld: a seeded synthetic image set for the CPU demo of multimodal SIT ("describe the image, then answer").

Each image is a small canvas (64×64 by default) with one to four coloured shapes (circle, square, triangle; red,
green, blue, yellow), one per quarter of the canvas. Every image gets five COCO-style captions ("A red circle and
two blue squares.") and three VQA-style questions with ten "human" answers each:
- "What colour is the circle?" (asked about a shape the image holds exactly once) → "red";
- "How many squares are there?" → "2" (VQA writes numbers as digits);
- "Is there a triangle?" → "yes" / "no" (about a shape the image lacks half of the time, when it lacks one).
Each of the ten answers is the true one, except that with probability `answer_noise` it is a plausible wrong one
(another colour, a count off by one, the other of yes/no), so the official VQA accuracy has human disagreement to
average over, as on VQAv2.

The files are written in the official formats, so `seqtune.data.vqa` reads them unchanged:
```
<out>/images/{train2014,val2014}/COCO_<split>_<12-digit id>.jpg   PNG data under COCO file names
<out>/vqav2_{train,val}/v2_OpenEnded_mscoco_<split>_questions.json + v2_mscoco_<split>_annotations.json
<out>/captions/captions_<split>.json                               COCO caption annotations
```
The images hold PNG data under the ".jpg" names COCO uses (image libraries detect the format from the content);
they are encoded here with the standard library (zlib), so the same seed gives byte-identical files without
depending on an image library's version.

Two options make the world one that `make demo`'s tiny InstructBLIP learns on a CPU in minutes (measured:
configs/demo_vqa.yaml): `jitter=0` puts each shape at the centre of its quarter (so one 32×32 patch of the tiny
model holds one whole shape), and `plain_captions` gives each image one caption that lists its shapes in a fixed
order (by kind, then colour), so that the description to learn is a function of the image. The command line:
`python -m seqtune.shapeworld OUT [--train-images N] [--val-images N] [--jitter J] [--plain-captions] [--seed S]`.
"""

from __future__ import annotations

import argparse
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtune.data.vqa import coco_file_name
from seqtune.records import atomic_write, write_json

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
BACKGROUND = (255, 255, 255)
NUMBER_WORDS = ("no", "a", "two", "three", "four")
CAPTION_FORMS = (
    "{List}.",
    "A white canvas with {list}.",
    "An image showing {list}.",
    "A picture of {list}.",
    "{List} on a plain white background.",
)
ANSWERS_PER_QUESTION = 10


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    x: float
    """Centre, in pixels."""
    y: float
    radius: float


def random_shapes(rng: random.Random, size: int, jitter: float = 1.0) -> list[Shape]:
    """One to four shapes, each in its own quarter of the canvas, so that none overlaps another; `jitter` is the
    share of the room left in its quarter by which a shape's centre moves off the quarter's centre."""
    cells = rng.sample(range(4), rng.randint(1, 4))
    half = size / 2
    shapes = []
    for cell in sorted(cells):
        radius = rng.uniform(0.28, 0.38) * half
        room = (half / 2 - radius) * jitter
        x = (cell % 2) * half + half / 2 + rng.uniform(-room, room)
        y = (cell // 2) * half + half / 2 + rng.uniform(-room, room)
        shapes.append(Shape(rng.choice(SHAPES), rng.choice(sorted(COLOURS)), x, y, radius))
    return shapes


def _covers(shape: Shape, px: float, py: float) -> bool:
    dx, dy = px - shape.x, py - shape.y
    if shape.kind == "circle":
        return dx * dx + dy * dy <= shape.radius * shape.radius
    if shape.kind == "square":
        side = shape.radius * 0.85
        return abs(dx) <= side and abs(dy) <= side
    # an upright triangle: apex at the top, base at the bottom of the shape's box
    depth = (dy + shape.radius) / (2 * shape.radius)
    return 0 <= depth <= 1 and abs(dx) <= depth * shape.radius


def render_png(shapes: list[Shape], size: int) -> bytes:
    """The canvas as PNG bytes (8-bit RGB, no filter, zlib level 9)."""
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 for this scan line
        for x in range(size):
            colour = BACKGROUND
            for shape in shapes:
                if _covers(shape, x + 0.5, y + 0.5):
                    colour = COLOURS[shape.colour]
            row += bytes(colour)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _phrase(colour: str, kind: str, count: int) -> str:
    return f"{NUMBER_WORDS[count]} {colour} {kind}{'s' if count > 1 else ''}"


def captions_of(shapes: list[Shape], rng: random.Random, plain: bool = False) -> list[str]:
    """Five captions naming every shape (grouped by colour and kind), each listing them in its own order; with
    `plain`, one caption that lists them by kind, then colour ("A red circle, two blue squares and a green
    triangle."), so that the description is a function of the image."""
    groups: dict[tuple[str, str], int] = {}
    for shape in shapes:
        groups[(shape.colour, shape.kind)] = groups.get((shape.colour, shape.kind), 0) + 1
    if plain:
        by_kind = sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))
        return [_listing([_phrase(colour, kind, count) for (colour, kind), count in by_kind], "{List}.")]
    phrases = [_phrase(colour, kind, count) for (colour, kind), count in sorted(groups.items())]
    return [_listing(rng.sample(phrases, len(phrases)), form) for form in CAPTION_FORMS]


def _listing(phrases: list[str], form: str) -> str:
    listing = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return form.replace("{List}", listing[0].upper() + listing[1:]).replace("{list}", listing)


def _noisy(rng: random.Random, truth: str, alternatives: list[str], noise: float) -> list[str]:
    return [
        rng.choice(alternatives) if alternatives and rng.random() < noise else truth
        for _ in range(ANSWERS_PER_QUESTION)
    ]


def questions_of(shapes: list[Shape], rng: random.Random, noise: float) -> list[dict[str, Any]]:
    """The image's questions: {question, question_type, answer_type, answers (ten)}."""
    kinds = [shape.kind for shape in shapes]
    questions = []
    single = [shape for shape in shapes if kinds.count(shape.kind) == 1]
    if single:
        shape = rng.choice(single)
        others = [colour for colour in sorted(COLOURS) if colour != shape.colour]
        questions.append(
            (f"What colour is the {shape.kind}?", "what colour is the", "other", shape.colour, others)
        )
    kind = rng.choice(SHAPES)
    count = kinds.count(kind)
    near = [str(n) for n in (count - 1, count + 1) if 0 <= n <= 4]
    questions.append((f"How many {kind}s are there?", "how many", "number", str(count), near))
    present = sorted(set(kinds))
    absent = [kind for kind in SHAPES if kind not in kinds]
    # half of the existence questions ask about a shape that is absent (when one is), so "yes" is no free answer
    kind = rng.choice(absent if absent and rng.random() < 0.5 else present)
    truth = "yes" if kind in kinds else "no"
    questions.append(
        (f"Is there a {kind}?", "is there a", "yes/no", truth, ["no" if truth == "yes" else "yes"])
    )
    return [
        {
            "question": text,
            "question_type": question_type,
            "answer_type": answer_type,
            "answers": _noisy(rng, truth, alternatives, noise),
        }
        for text, question_type, answer_type, truth, alternatives in questions
    ]


def build_shapeworld(
    out: str | Path,
    *,
    seed: int = 0,
    train_images: int = 200,
    val_images: int = 50,
    size: int = 64,
    answer_noise: float = 0.1,
    jitter: float = 1.0,
    plain_captions: bool = False,
) -> dict[str, int]:
    """Write the image set under `out` (module docstring); returns counts per split."""
    out = Path(out)
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    image_id = 0
    for split, number in (("train2014", train_images), ("val2014", val_images)):
        images, captions, questions, annotations = [], [], [], []
        for _ in range(number):
            image_id += 1
            shapes = random_shapes(rng, size, jitter)
            name = coco_file_name(split, image_id)
            with atomic_write(out / "images" / name, binary=True) as handle:
                handle.write(render_png(shapes, size))
            images.append({"id": image_id, "file_name": Path(name).name, "width": size, "height": size})
            for text in captions_of(shapes, rng, plain_captions):
                captions.append({"image_id": image_id, "id": len(captions) + 1, "caption": text})
            for index, question in enumerate(questions_of(shapes, rng, answer_noise)):
                qid = image_id * 1000 + index
                questions.append({"image_id": image_id, "question": question["question"], "question_id": qid})
                answers = question["answers"]
                annotations.append(
                    {
                        "question_type": question["question_type"],
                        "multiple_choice_answer": max(sorted(set(answers)), key=answers.count),
                        "answers": [
                            {"answer": answer, "answer_confidence": "yes", "answer_id": position + 1}
                            for position, answer in enumerate(answers)
                        ],
                        "image_id": image_id,
                        "answer_type": question["answer_type"],
                        "question_id": qid,
                    }
                )
        info = {"description": f"ShapeWorld (seqtune), seed {seed}", "version": "1.0"}
        common = {"info": info, "data_type": "mscoco", "data_subtype": split, "license": {"name": "CC0"}}
        short = split.removesuffix("2014")
        write_json(
            out / f"vqav2_{short}" / f"v2_OpenEnded_mscoco_{split}_questions.json",
            {**common, "task_type": "Open-Ended", "questions": questions},
        )
        write_json(
            out / f"vqav2_{short}" / f"v2_mscoco_{split}_annotations.json",
            {**common, "annotations": annotations},
        )
        write_json(
            out / "captions" / f"captions_{split}.json",
            {"info": info, "images": images, "type": "captions", "annotations": captions},
        )
        counts[short] = len(questions)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m seqtune.shapeworld", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("output_dir", help="folder for images/, vqav2_{train,val}/ and captions/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-images", type=int, default=200)
    parser.add_argument("--val-images", type=int, default=50)
    parser.add_argument("--size", type=int, default=64, help="canvas side in pixels (default 64)")
    parser.add_argument("--answer-noise", type=float, default=0.1, help="share of wrong human answers")
    parser.add_argument(
        "--jitter", type=float, default=1.0, help="0: shapes at their quarter's centre; 1: anywhere in it"
    )
    parser.add_argument(
        "--plain-captions", action="store_true", help="one caption per image, in a fixed order"
    )
    args = parser.parse_args(argv)
    for name in ("train_images", "val_images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be at least 1, got {getattr(args, name)}")
    if args.size < 8:
        parser.error(f"--size: must be at least 8, got {args.size}")
    for name in ("answer_noise", "jitter"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')}: must be between 0 and 1, got {getattr(args, name)}")
    counts = build_shapeworld(
        args.output_dir,
        seed=args.seed,
        train_images=args.train_images,
        val_images=args.val_images,
        size=args.size,
        answer_noise=args.answer_noise,
        jitter=args.jitter,
        plain_captions=args.plain_captions,
    )
    for split, number in counts.items():
        print(f"{Path(args.output_dir) / f'vqav2_{split}'}: {number} questions")


if __name__ == "__main__":
    main()
