"""Image captions by image id, from COCO caption annotations or LLaVA-style caption JSONL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seqtune.errors import SeqtuneError
from seqtune.records import ErrorPolicy, iter_json_records, read_json

_DIGITS = re.compile(r"\d+")


def image_key(image: str | int) -> int | None:
    """COCO image id from an id or a file name ("COCO_val2014_000000397133.jpg" → 397133)."""
    if isinstance(image, int):
        return image
    numbers = _DIGITS.findall(Path(str(image)).stem)
    return int(numbers[-1]) if numbers else None


def load_captions(path: str | Path) -> dict[int, list[str]]:
    """{image id: captions in file order}. COCO: {"annotations": [{"image_id", "caption"}]};
    LLaVA JSONL: {"id" or "image", "captions": [...]} per line."""
    path = Path(path)
    captions: dict[int, list[str]] = {}
    if path.name.removesuffix(".gz").endswith(".jsonl"):
        for location, row in iter_json_records(path, ErrorPolicy("fail")):
            key = image_key(row.get("id") or row.get("image") or "")
            if key is None or not isinstance(row.get("captions"), list):
                raise SeqtuneError(f"{path}:{location}: expected an image id and a 'captions' list")
            captions.setdefault(key, []).extend(str(c) for c in row["captions"])
        return captions
    return coco_captions(read_json(path), path)


def coco_captions(document: Any, path: Path) -> dict[int, list[str]]:
    """{image id: captions} of a parsed COCO caption annotations file (`path` names it in errors)."""
    captions: dict[int, list[str]] = {}
    annotations = document.get("annotations") if isinstance(document, dict) else None
    if not isinstance(annotations, list):
        raise SeqtuneError(f"{path}: expected COCO caption annotations (an 'annotations' list)")
    for index, annotation in enumerate(annotations):
        if (
            not isinstance(annotation, dict)
            or not isinstance(annotation.get("image_id"), int)
            or not isinstance(annotation.get("caption"), str)
        ):
            raise SeqtuneError(
                f"{path}: annotation {index}: expected an integer 'image_id' and a string 'caption'"
            )
        captions.setdefault(annotation["image_id"], []).append(annotation["caption"].strip())
    return captions
