"""Visual question answering sources in their official formats, and the VQA → IT / SIT instruction records.

Readers (each returns VQARecords; `image` is a path relative to an image root, as COCO names its files):
- VQAv2: a folder holding the official questions file (`{"questions": [{"question_id", "image_id", "question"}],
  "data_subtype"}`) and annotations file (`{"annotations": [{"question_id", "answers": [{"answer"}, ...],
  "answer_type"}]}`), e.g. `v2_OpenEnded_mscoco_val2014_questions.json` + `v2_mscoco_val2014_annotations.json`;
  or one file of LAVIS-style records (`[{"question_id", "question", "answer": [...], "image"}]`, as LAVIS'
  `vqa_train.json` and ovqa's `smallval_meta.json`). Image names: `<split>/COCO_<split>_<12-digit id>.jpg`, the
  split from `data_subtype` (train2014 / val2014 / test2015; a custom subtype such as "valsmall" is mapped by
  its prefix: train… → train2014, val… → val2014, test… → test2015).
- GQA: the balanced questions JSON (`{"<qid>": {"imageId", "question", "answer"}}`, with answers) or LLaVA's
  jsonl (`{"question_id", "image", "text"}`: questions only; LLaVA's answer-format line is removed from the text).
  Answers for the jsonl come from a balanced questions JSON given as `answers`.
- Captions: COCO caption annotations or LLaVA caption jsonl (`seqtune.data.captions.load_captions`), the Karpathy
  split JSON (`{"images": [{"cocoid", "split", "sentences": [{"raw"}]}]}`, optionally one split) and LAVIS'
  Karpathy files (`[{"image", "caption"}]`); all give {COCO image id: captions}.

Training targets (documented and seeded, so the same seed gives the same data):
- answer: the most frequent of the human answers; a tie is broken by a draw seeded by (seed, question id);
- caption: one of the image's captions, drawn by (seed, image id) — every question on an image gets the same
  caption, as one description per image is what the model is asked to give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqtune.data.captions import coco_captions, image_key, load_captions
from seqtune.errors import RecordError, SeqtuneError
from seqtune.lm.base import image_mime
from seqtune.records import ErrorPolicy, iter_json_records, read_json, seeded_index
from seqtune.sequential import compose_instruction, compose_output
from seqtune.steps.base import verbalizations

IT_INSTRUCTION = "Answer the input question based on the image"
"""The paper's IT instruction for VQA; its SIT instruction puts "First describe the image, then " before it."""
CAPTION_TEMPLATE = "caption/paper"
LLAVA_ANSWER_FORMAT = "\nAnswer the question using a single word or phrase."
_COCO_SPLITS = {"train": "train2014", "val": "val2014", "test": "test2015"}
_JSON_SUFFIXES = (".json", ".json.gz")


@dataclass
class VQARecord:
    question_id: str
    question: str
    image: str
    """Path of the image under the image root, e.g. "val2014/COCO_val2014_000000000042.jpg"."""
    image_id: int | str
    answers: list[str] = field(default_factory=list)
    """The human answers (10 in VQAv2, 1 in GQA); empty when the source has none."""
    answer_type: str = ""
    origin: str = ""
    """"file:record N", for error messages."""


# ---- VQAv2 ----


def coco_split(data_subtype: str) -> str:
    """The COCO image folder of a VQA `data_subtype` (module docstring)."""
    if data_subtype in _COCO_SPLITS.values():
        return data_subtype
    for prefix, split in _COCO_SPLITS.items():
        if data_subtype.startswith(prefix):
            return split
    raise SeqtuneError(f"cannot tell the COCO image split of data_subtype '{data_subtype}'")


def coco_file_name(split: str, image_id: int) -> str:
    return f"{split}/COCO_{split}_{image_id:012d}.jpg"


def read_vqav2(source: str | Path) -> list[VQARecord]:
    """VQAv2 questions with their human answers, from an official folder or one LAVIS-style file."""
    path = Path(source)
    if path.is_file():
        return _read_lavis_vqa(path)
    if not path.is_dir():
        raise SeqtuneError(
            f"{path}: no such file or folder (VQAv2: a folder with the questions and annotations)"
        )
    questions_path = _one_file(path, "questions")
    annotations_path = _one_file(path, "annotations")
    questions = read_json(questions_path)
    annotations = read_json(annotations_path)
    if not isinstance(questions, dict) or not isinstance(questions.get("questions"), list):
        raise SeqtuneError(
            f"{questions_path}: expected the official VQA questions format (a 'questions' list)"
        )
    if not isinstance(annotations, dict) or not isinstance(annotations.get("annotations"), list):
        raise SeqtuneError(
            f"{annotations_path}: expected the official VQA annotations (an 'annotations' list)"
        )
    split = coco_split(str(questions.get("data_subtype", "")))
    answers = {}
    for index, annotation in enumerate(annotations["annotations"]):
        where = f"{annotations_path}:record {index}"
        if not isinstance(annotation, dict) or not isinstance(annotation.get("answers"), list):
            raise SeqtuneError(f"{where}: field 'answers': expected a list of {{answer: text}}")
        texts = [item.get("answer") for item in annotation["answers"] if isinstance(item, dict)]
        if not texts or not all(isinstance(text, str) for text in texts):
            raise SeqtuneError(f"{where}: field 'answers': expected a list of {{answer: text}}")
        answers[str(annotation.get("question_id"))] = (texts, str(annotation.get("answer_type", "")))
    records = []
    for index, question in enumerate(questions["questions"]):
        where = f"{questions_path}:record {index}"
        qid, image_id, text = (question.get(key) for key in ("question_id", "image_id", "question"))
        if not isinstance(image_id, int) or not isinstance(text, str) or qid is None:
            raise SeqtuneError(f"{where}: expected an integer 'image_id', a 'question_id' and a 'question'")
        if str(qid) not in answers:
            raise SeqtuneError(f"{where}: question {qid} has no annotation in {annotations_path}")
        texts, answer_type = answers[str(qid)]
        image = coco_file_name(split, image_id)
        records.append(VQARecord(str(qid), text, image, image_id, texts, answer_type, where))
    return records


def _one_file(folder: Path, kind: str) -> Path:
    found = sorted(p for p in folder.iterdir() if kind in p.name and p.name.endswith(_JSON_SUFFIXES))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise SeqtuneError(f"{folder}: expected exactly one VQA {kind} file (*{kind}*.json), found {names}")
    return found[0]


def _read_lavis_vqa(path: Path) -> list[VQARecord]:
    records = []
    for location, row in iter_json_records(path):
        qid, text, image, answers = (row.get(key) for key in ("question_id", "question", "image", "answer"))
        if isinstance(answers, str):
            answers = [answers]
        if qid is None or not isinstance(text, str) or not isinstance(image, str):
            raise RecordError(
                str(path), location, "missing_field", "expected question_id, question and image"
            )
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise RecordError(str(path), location, "wrong_type", "expected a list of answers", field="answer")
        key = image_key(image)
        records.append(VQARecord(str(qid), text, image, key if key is not None else image, answers))
    return records


# ---- GQA ----


def read_gqa(source: str | Path, answers: str | Path | None = None) -> list[VQARecord]:
    """GQA questions: the balanced questions JSON (with answers) or LLaVA's jsonl (answers from `answers`)."""
    path = Path(source)
    if not path.is_file():
        raise SeqtuneError(f"{path}: no such file (GQA: balanced questions JSON or LLaVA's jsonl)")
    if path.name.removesuffix(".gz").endswith(".jsonl"):
        records = _read_llava_gqa(path)
    else:
        records = _read_balanced_gqa(path)
    if answers is not None:
        gold = {record.question_id: record.answers for record in _read_balanced_gqa(Path(answers))}
        for record in records:
            record.answers = gold.get(record.question_id, record.answers)
    return records


def _read_balanced_gqa(path: Path) -> list[VQARecord]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise SeqtuneError(
            f"{path}: expected GQA balanced questions ({{question id: {{imageId, question}}}})"
        )
    records = []
    for qid, entry in document.items():
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in ("imageId", "question")
        ):
            raise SeqtuneError(f"{path}: question {qid}: expected string fields 'imageId' and 'question'")
        answer = entry.get("answer")
        image = f"{entry['imageId']}.jpg"
        answers = [answer] if isinstance(answer, str) else []
        records.append(
            VQARecord(str(qid), entry["question"], image, entry["imageId"], answers, "", str(path))
        )
    return records


def _read_llava_gqa(path: Path) -> list[VQARecord]:
    records = []
    for location, row in iter_json_records(path):
        qid, image, text = (row.get(key) for key in ("question_id", "image", "text"))
        if qid is None or not isinstance(image, str) or not isinstance(text, str):
            raise RecordError(str(path), location, "missing_field", "expected question_id, image and text")
        question = text.removesuffix(LLAVA_ANSWER_FORMAT).strip()
        records.append(VQARecord(str(qid), question, image, Path(image).stem, [], "", f"{path}:{location}"))
    return records


# ---- captions ----


def read_captions(path: str | Path, split: str | None = None) -> dict[int, list[str]]:
    """{COCO image id: captions in file order} from COCO annotations, LLaVA jsonl or a Karpathy split file;
    `split` ("train", "val", "test", "restval") keeps one Karpathy split."""
    path = Path(path)
    if path.name.removesuffix(".gz").endswith(".jsonl"):
        return load_captions(path)
    document = read_json(path)
    if isinstance(document, list):
        return _lavis_karpathy(document, path)
    if (
        isinstance(document, dict)
        and "annotations" not in document
        and isinstance(document.get("images"), list)
    ):
        return _karpathy(document, path, split)
    return coco_captions(document, path)  # parsed once: COCO's caption files are tens of megabytes


def _karpathy(document: dict, path: Path, split: str | None) -> dict[int, list[str]]:
    captions: dict[int, list[str]] = {}
    for index, image in enumerate(document["images"]):
        sentences = image.get("sentences") if isinstance(image, dict) else None
        if not isinstance(image.get("cocoid"), int) or not isinstance(sentences, list):
            raise SeqtuneError(
                f"{path}: image {index}: expected 'cocoid' and 'sentences' (Karpathy split format)"
            )
        if split is None or image.get("split") == split:
            captions[image["cocoid"]] = [
                str(s.get("raw", "")).strip() for s in sentences if isinstance(s, dict)
            ]
    return captions


def _lavis_karpathy(rows: list, path: Path) -> dict[int, list[str]]:
    captions: dict[int, list[str]] = {}
    for index, row in enumerate(rows):
        key = image_key(row.get("image", "")) if isinstance(row, dict) else None
        caption = row.get("caption") if isinstance(row, dict) else None
        if key is None or not isinstance(caption, (str, list)):
            raise SeqtuneError(
                f"{path}: record {index}: expected 'image' and 'caption' (LAVIS Karpathy format)"
            )
        captions.setdefault(key, []).extend([caption] if isinstance(caption, str) else map(str, caption))
    return captions


# ---- images ----


def check_images(
    records: list[VQARecord], image_root: str | Path, on_error: str | ErrorPolicy = "fail"
) -> tuple[list[VQARecord], Counter[str]]:
    """The records whose image exists under `image_root` and looks like an image file; a missing or unreadable
    one is a one-line error naming the file (`fail`) or is skipped and counted by reason (`skip`; a stage's own
    ErrorPolicy counts them with its other skips). Decoding is left to the back-end that looks at the images."""
    policy = on_error if isinstance(on_error, ErrorPolicy) else ErrorPolicy(on_error)
    kept = []
    for record in records:
        path = Path(image_root) / record.image
        try:
            with path.open("rb") as handle:
                head = handle.read(12)
        except FileNotFoundError:
            policy.handle(
                RecordError(
                    str(path), "", "missing_image", f"image of question {record.question_id} not found"
                )
            )
            continue
        except OSError as exc:
            policy.handle(RecordError(str(path), "", "unreadable_image", f"cannot read it ({exc.strerror})"))
            continue
        if image_mime(head) is None:
            policy.handle(
                RecordError(str(path), "", "unreadable_image", "not a PNG, JPEG, GIF, BMP or WebP file")
            )
            continue
        kept.append(record)
    return kept, policy.skipped


# ---- training targets ----


def target_answer(record: VQARecord, seed: int = 0) -> str:
    """The most frequent human answer; ties broken by a draw seeded by (seed, question id)."""
    if not record.answers:
        raise SeqtuneError(
            f"{record.origin or record.question_id}: question {record.question_id} has no answer"
        )
    counts = Counter(record.answers)
    top = max(counts.values())
    tied = sorted(answer for answer, count in counts.items() if count == top)
    return tied[seeded_index(seed, f"answer:{record.question_id}", len(tied))]


def target_caption(captions: list[str], image_id: int | str, seed: int = 0) -> str:
    """One caption of the image, drawn by (seed, image id): the same for every question on that image."""
    return captions[seeded_index(seed, f"caption:{image_id}", len(captions))]


def _record(
    record_id: str,
    record: VQARecord,
    kind: str,
    instruction: str,
    output: str,
    steps: list,
    final: str,
    image: str,
) -> dict[str, Any]:
    """One record with the keys, in the order, of augment's records."""
    return {
        "id": record_id,
        "source_id": record.question_id,
        "kind": kind,
        "instruction": instruction,
        "input": record.question,
        "output": output,
        "steps": steps,
        "final": final,
        "template": CAPTION_TEMPLATE if steps else "",
        "lang": "en",
        "image": image,
    }


def instruction_records(
    records: Iterable[VQARecord],
    captions: dict[int, list[str]],
    *,
    seed: int = 0,
    image_root: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    """(IT records, SIT records, skipped counts) in augment's record shape (DESIGN.md "Records").

    IT: instruction "Answer the input question based on the image", input = the question, output = the target
    answer. SIT: "First describe the image, then answer the input question based on the image", output = the
    target caption + "\\n" + the answer. A question whose image has no caption gets no SIT record (counted as
    "no_caption"); one without answers gets neither (counted as "no_answer")."""
    phrase = next(v for v in verbalizations("caption") if v.id == CAPTION_TEMPLATE).text
    sit_instruction = compose_instruction([phrase], IT_INSTRUCTION)
    it_records, sit_records, skipped = [], [], Counter()
    for record in records:
        if not record.answers:
            skipped["no_answer"] += 1
            continue
        answer = target_answer(record, seed)
        image = str(Path(image_root) / record.image) if image_root else record.image
        it_records.append(
            _record(record.question_id, record, "original", IT_INSTRUCTION, answer, [], answer, image)
        )
        pool = captions.get(record.image_id) if isinstance(record.image_id, int) else None
        if not pool:
            skipped["no_caption"] += 1  # GQA images (string ids) are not COCO images: they have no captions
            continue
        caption = target_caption(pool, record.image_id, seed)
        output = compose_output([caption], answer)
        steps = [{"task": "caption", "target": caption}]
        sit_records.append(
            _record(
                f"{record.question_id}:caption",
                record,
                "sequential",
                sit_instruction,
                output,
                steps,
                answer,
                image,
            )
        )
    return it_records, sit_records, skipped
