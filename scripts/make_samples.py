"""Rebuild the small bundled sample in src/seqtune/samples/ from ../shared/data (seeded, so reproducible).

python scripts/make_samples.py [SHARED_DATA_DIR]
"""

import gzip
import json
import random
import sys
from pathlib import Path

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
OUT = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"
XQUAD_LANGS = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
XQUAD_QUESTIONS = 40


def dump_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    alpaca = json.load(gzip.open(SHARED / "alpaca/alpaca_data.json.gz"))
    picked = sorted(rng.sample(range(len(alpaca)), 400))
    dump_jsonl(OUT / "alpaca.jsonl", ({"id": f"alpaca-{i}", **alpaca[i]} for i in picked))

    with gzip.open(SHARED / "alpaca_parallel/alpaca.en-zh.jsonl.gz", "rt", encoding="utf-8") as handle:
        parallel = [row for row in map(json.loads, handle) if row["en"]["input"].strip()]
    dump_jsonl(OUT / "alpaca.en-zh.jsonl", sorted(rng.sample(parallel, 150), key=lambda row: row["id"]))

    with open(SHARED / "commonsense_qa/dev_rand_split.jsonl", encoding="utf-8") as handle:
        dump_jsonl(OUT / "commonsense_qa.dev.jsonl", [json.loads(line) for line in handle][:60])

    for lang in XQUAD_LANGS:
        document = json.load(gzip.open(SHARED / f"xquad/xquad.{lang}.json.gz"))
        kept, count = [], 0
        for article in document["data"]:
            paragraphs = []
            for paragraph in article["paragraphs"]:
                if count >= XQUAD_QUESTIONS:
                    break
                qas = paragraph["qas"][: XQUAD_QUESTIONS - count]
                count += len(qas)
                paragraphs.append({"context": paragraph["context"], "qas": qas})
            if paragraphs:
                kept.append({"title": article["title"], "paragraphs": paragraphs})
            if count >= XQUAD_QUESTIONS:
                break
        (OUT / f"xquad.{lang}.json").write_text(
            json.dumps({"version": document.get("version", "1.1"), "data": kept}, ensure_ascii=False),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
