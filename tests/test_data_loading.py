"""Loading instruction data: the bad-input corpus (tests/fixtures/augment/bad/README.md), HF dataset folders,
field mapping, gzip, parallel corpora and COCO captions."""

import gzip
import json
from pathlib import Path

import pytest

from seqtune.augment.config import AugmentConfig
from seqtune.augment.pipeline import run_augment
from seqtune.config import build
from seqtune.data.captions import image_key, load_captions
from seqtune.data.instructions import iter_instruction_records
from seqtune.data.parallel import guess_lang, iter_parallel_shared
from seqtune.errors import RecordError, SeqtuneError
from seqtune.layout import manifest_path
from seqtune.records import ErrorPolicy

BAD = Path(__file__).parent / "fixtures" / "augment" / "bad"
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"


def _load(path, mode="fail", **kwargs):
    policy = ErrorPolicy(mode)
    return list(iter_instruction_records(str(path), policy, **kwargs)), policy


def _augment(tmp_path, inputs, **values):
    return run_augment(
        build(
            AugmentConfig,
            {"inputs": [str(p) for p in inputs], "output": str(tmp_path / "out.jsonl"), **values},
        )
    )


def test_mixed_corpus_fails_at_the_first_bad_line_naming_file_and_line():
    with pytest.raises(RecordError) as error:
        _load(BAD / "mixed.jsonl")
    assert (
        str(error.value).startswith(f"{BAD / 'mixed.jsonl'}:line 2:") and error.value.reason == "invalid_json"
    )


def test_lone_surrogates_are_rejected_naming_line_and_field_and_skipped_by_count():
    with pytest.raises(RecordError) as error:
        _load(BAD / "lone_surrogate.jsonl")
    assert error.value.reason == "lone_surrogate" and error.value.field == "input"
    assert str(error.value).startswith(f"{BAD / 'lone_surrogate.jsonl'}:line 2: field 'input':")
    records, policy = _load(BAD / "lone_surrogate.jsonl", "skip")
    assert [r.instruction for r in records] == ["Do task 0.", "Do task 3."]
    assert dict(policy.skipped) == {"lone_surrogate": 2}


def test_a_lone_surrogate_on_either_side_of_parallel_data_or_in_a_caption_is_named(tmp_path):
    pair = {
        "id": 7,
        "en": {"instruction": "Say \ud800.", "input": "a", "output": "b"},
        "zh": {"instruction": "x", "input": "y", "output": "z"},
    }
    path = tmp_path / "p.en-zh.jsonl"
    path.write_text(json.dumps(pair) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"p\.en-zh\.jsonl:line 1: field 'en\.instruction': .*surrogate"):
        list(iter_parallel_shared(str(path), ErrorPolicy()))
    captions = tmp_path / "captions.json"
    captions.write_text(
        json.dumps({"annotations": [{"image_id": 1, "caption": "a \udc00 cat"}]}), encoding="utf-8"
    )
    with pytest.raises(SeqtuneError, match=r"captions\.json: field 'annotations\[0\]\.caption': .*surrogate"):
        load_captions(captions)


def test_mixed_corpus_skip_counts_every_reason_and_keeps_every_good_record(tmp_path):
    records, policy = _load(BAD / "mixed.jsonl", "skip")
    assert [r.instruction for r in records] == ["Do task 0.", "Do task 1.", "Do task 2."]
    assert dict(policy.skipped) == {
        "invalid_json": 1,
        "missing_field": 1,
        "wrong_type": 2,
        "invalid_utf8": 1,
        "not_an_object": 1,
    }
    summary = _augment(tmp_path, [BAD / "mixed.jsonl"], on_error="skip")
    assert summary["read"] == 3 and summary["written_sequential"] == 3 and summary["written_original"] == 3
    assert summary["skipped"] == dict(sorted(policy.skipped.items()))
    manifest = json.loads(manifest_path(tmp_path / "out.jsonl").read_text())
    assert manifest["counts"]["skipped"]["wrong_type"] == 2


@pytest.mark.parametrize(
    ("line", "reason", "field"),
    [
        (3, "missing_field", "output"),
        (4, "wrong_type", "output"),
        (5, "invalid_utf8", None),
        (9, "wrong_type", "input"),
    ],
)
def test_each_bad_line_gives_its_own_clear_error(tmp_path, line, reason, field):
    lines = (BAD / "mixed.jsonl").read_bytes().split(b"\n")
    single = tmp_path / "one.jsonl"
    single.write_bytes(lines[0] + b"\n" + b"\n" * (line - 2) + lines[line - 1] + b"\n")
    with pytest.raises(RecordError) as error:
        _load(single)
    assert error.value.reason == reason and error.value.field == field
    assert f":line {line}:" in str(error.value) and (field is None or f"field '{field}'" in str(error.value))


def test_bom_is_accepted():
    records, _ = _load(BAD / "bom.jsonl")
    assert [r.instruction for r in records] == ["Do task 0.", "Do task 1."]


@pytest.mark.parametrize("name", ["empty.jsonl", "blank_lines.jsonl"])
@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_empty_file_is_an_error_under_both_policies(name, mode):
    with pytest.raises(SeqtuneError, match="holds no records"):
        _load(BAD / name, mode)


def test_broken_array_and_non_object_records():
    with pytest.raises(SeqtuneError, match=r"broken_array\.json:1: invalid JSON"):
        _load(BAD / "broken_array.json", "skip")
    with pytest.raises(RecordError, match="record 1"):
        _load(BAD / "array_with_non_object.json")
    records, policy = _load(BAD / "array_with_non_object.json", "skip")
    assert len(records) == 2 and dict(policy.skipped) == {"not_an_object": 1}


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(SeqtuneError, match="no such file"):
        _load(tmp_path / "nope.jsonl")


def test_huge_record_goes_through_unchanged(tmp_path):
    big = "word " * 1_000_000  # 5 MB input
    path = tmp_path / "huge.jsonl"
    path.write_text(
        json.dumps({"instruction": "Summarize.", "input": big, "output": "short"}) + "\n", encoding="utf-8"
    )
    _augment(tmp_path, [path])
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert records[1]["output"] == big + "\nshort" and records[1]["steps"][0]["target"] == big


def test_gzip_json_array_and_field_map(tmp_path):
    rows = [{"uid": 7, "prompt": "Translate {x}", "context": "Hallo", "completion": "Hello"}]
    path = tmp_path / "data.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(rows, handle)
    records, _ = _load(
        path, field_map={"instruction": "prompt", "input": "context", "output": "completion", "id": "uid"}
    )
    assert (records[0].id, records[0].instruction, records[0].input, records[0].output) == (
        "7",
        "Translate {x}",
        "Hallo",
        "Hello",
    )


def test_local_hugging_face_dataset_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in (SAMPLES / "alpaca.jsonl").open()][:30]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    saved, _ = _load(tmp_path / "saved")
    assert [(r.id, r.instruction, r.input, r.output) for r in saved] == [
        (r["id"], r["instruction"], r["input"], r["output"]) for r in rows
    ]
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loaded, _ = _load(folder, hf_split="train")
    assert [r.instruction for r in loaded] == [r["instruction"] for r in rows]


def test_parallel_shared_layout_and_language_guess(tmp_path):
    records = list(iter_parallel_shared(str(SAMPLES / "alpaca.en-zh.jsonl"), ErrorPolicy()))
    assert len(records) == 150 and {r.lang for r in records} == {"zh"}
    first = json.loads((SAMPLES / "alpaca.en-zh.jsonl").open().readline())
    assert (records[0].id, records[0].english_input, records[0].instruction) == (
        f"zh-{first['id']}",
        first["en"]["input"],
        first["zh"]["instruction"],
    )
    assert guess_lang("alpaca_data_cleaned.de.json") == "de" and guess_lang("data/alpaca.zh.jsonl.gz") == "zh"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "en": {"instruction": "a", "input": "b", "output": "c"}}) + "\n")
    with pytest.raises(RecordError, match="non-English side"):
        list(iter_parallel_shared(str(bad), ErrorPolicy()))


def test_coco_and_llava_captions(tmp_path, shared_data):
    coco = load_captions(shared_data / "vision" / "coco_captions" / "captions_val2017.json.gz")
    assert len(coco) == 5000 and sum(map(len, coco.values())) == 25014
    llava = load_captions(shared_data / "vision" / "llava_bench_coco" / "caps_boxes_coco2014_val_80.jsonl")
    assert len(llava) == 80 and len(llava[296284]) == 5
    assert (
        image_key("COCO_val2014_000000397133.jpg")
        == 397133
        == image_key("000000397133.jpg")
        == image_key(397133)
    )


def test_real_parallel_files_load(shared_data):
    path = shared_data / "alpaca_parallel" / "alpaca.en-de.jsonl.gz"
    records = list(iter_parallel_shared(str(path), ErrorPolicy()))
    assert len(records) == 11748 and records[0].lang == "de"


def test_by_position_pairs_a_json_array_with_jsonl_and_survives_a_skipped_line(tmp_path):
    import json

    from seqtune.data.parallel import iter_parallel_by_position
    from seqtune.records import ErrorPolicy

    english = [{"instruction": f"say {i}", "input": f"hello {i}", "output": f"{i}"} for i in range(3)]
    (tmp_path / "en.json").write_text(json.dumps(english), encoding="utf-8")
    lines = [
        json.dumps({"instruction": f"sag {i}", "input": f"hallo {i}", "output": f"{i}"}) for i in range(3)
    ]
    lines[1] = "{broken"
    (tmp_path / "data.de.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    policy = ErrorPolicy("skip")
    pairs = list(
        iter_parallel_by_position(str(tmp_path / "en.json"), str(tmp_path / "data.de.jsonl"), "de", policy)
    )
    assert [(r.input, r.english_input) for r in pairs] == [("hallo 0", "hello 0"), ("hallo 2", "hello 2")]
    assert policy.skipped == {"invalid_json": 1}
