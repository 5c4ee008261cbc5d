import gzip
import json

import pytest

from seqtune.errors import RecordError, SeqtuneError
from seqtune.records import (
    ErrorPolicy,
    atomic_write,
    iter_json_records,
    read_json,
    remove_stale_temporaries,
    require_str,
    write_jsonl,
)


def test_jsonl_reports_file_and_line_of_broken_json(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"data.jsonl:line 2: invalid JSON"):
        list(iter_json_records(path))


def test_skip_policy_counts_by_reason_and_keeps_the_rest(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"a": 1}\n[1, 2]\nnot json\n\xff\xfe\n{"a": 5}\n')
    policy = ErrorPolicy("skip")
    rows = list(iter_json_records(path, policy))
    assert [row["a"] for _, row in rows] == [1, 5]
    assert [loc for loc, _ in rows] == ["line 1", "line 5"]
    assert policy.skipped == {"not_an_object": 1, "invalid_json": 1, "invalid_utf8": 1}


def test_json_array_gz_and_bom_are_read(tmp_path):
    path = tmp_path / "data.json.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + json.dumps([{"x": "é"}, {"x": "{}"}]).encode())
    assert [row for _, row in iter_json_records(path)] == [{"x": "é"}, {"x": "{}"}]
    assert [loc for loc, _ in iter_json_records(path)] == ["record 0", "record 1"]


def test_empty_file_is_an_error_even_when_skipping(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SeqtuneError, match="holds no records"):
        list(iter_json_records(path, ErrorPolicy("skip")))


def test_missing_file_and_non_array_json(tmp_path):
    with pytest.raises(SeqtuneError, match="no such file"):
        list(iter_json_records(tmp_path / "nope.json"))
    (tmp_path / "obj.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(SeqtuneError, match="expected a JSON array"):
        list(iter_json_records(tmp_path / "obj.json"))


def test_require_str_names_the_field():
    with pytest.raises(RecordError, match=r"f.jsonl:line 3: field 'input': missing"):
        require_str({}, "input", "f.jsonl", "line 3")
    with pytest.raises(RecordError, match="expected a string, got int") as info:
        require_str({"input": 3}, "input", "f.jsonl", "line 3")
    assert info.value.reason == "wrong_type"
    assert require_str({}, "input", "f", "l", allow_missing=True) == ""


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_gz_output_is_byte_identical_across_runs(tmp_path):
    rows = [{"id": str(i), "text": "中文 {x}"} for i in range(50)]
    write_jsonl(tmp_path / "a.jsonl.gz", rows)
    write_jsonl(tmp_path / "b.jsonl.gz", rows)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert [row for _, row in iter_json_records(tmp_path / "a.jsonl.gz")] == rows


def test_read_json_reports_line_of_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n"a": 1,\n}', encoding="utf-8")
    with pytest.raises(SeqtuneError, match=r"bad.json:3: invalid JSON"):
        read_json(path)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from seqtune.records import usual_mode

    write_jsonl(tmp_path / "a.jsonl", [{"a": 1}])
    assert stat.S_IMODE(os.stat(tmp_path / "a.jsonl").st_mode) == usual_mode(directory=False) != 0o600


# ---- what every reader refuses (issue 11: tracebacks and silent damage from hostile input) ----


def test_nesting_too_deep_for_the_parser_is_a_record_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"a": 1}\n{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"deep.jsonl:line 2: invalid JSON \(nested deeper"):
        list(iter_json_records(path))
    policy = ErrorPolicy("skip")
    assert [row for _, row in iter_json_records(path, policy)] == [{"a": 1}]
    assert policy.skipped == {"too_deep": 1}
    array = tmp_path / "deep.json"
    array.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(RecordError, match="deep.json: invalid JSON \\(nested deeper"):
        read_json(array)


@pytest.mark.parametrize("name", ["data.jsonl.gz", "data.json.gz"])
def test_truncated_and_fake_gzip_name_the_file(tmp_path, name):
    rows = [{"id": str(i), "text": "x" * 50} for i in range(200)]
    whole = gzip.compress(
        ("\n".join(json.dumps(r) for r in rows) if "jsonl" in name else json.dumps(rows)).encode()
    )
    truncated = tmp_path / name
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SeqtuneError, match=rf"{name}: not a readable gzip file: it ends early"):
        list(iter_json_records(truncated))
    fake = tmp_path / f"fake.{name}"
    fake.write_text('{"id": "1"}\n', encoding="utf-8")
    with pytest.raises(SeqtuneError, match=rf"fake.{name}: not a readable gzip file"):
        list(iter_json_records(fake))
    corrupt = tmp_path / f"corrupt.{name}"
    corrupt.write_bytes(whole[:20] + bytes(b ^ 0xFF for b in whole[20:60]) + whole[60:])
    with pytest.raises(SeqtuneError, match=rf"corrupt.{name}: not a readable gzip file"):
        list(iter_json_records(corrupt))


def test_a_lone_surrogate_is_refused_naming_line_and_field(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = [
        '{"input": "ok \\ud83d\\ude00"}',  # a surrogate pair is an emoji: fine
        '{"input": "x", "meta": {"choices": {"A": "bank \\ud800"}}}',
        '{"steps": [{"target": "fine"}, {"target": "\\uDC00"}]}',
        '{"\\ud800key": 1}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"data.jsonl:line 2: field 'meta.choices.A': holds a lone") as info:
        list(iter_json_records(path))
    assert info.value.reason == "lone_surrogate"
    str(info.value).encode("utf-8")  # the message itself is printable text
    policy = ErrorPolicy("skip")
    assert [row["input"] for _, row in iter_json_records(path, policy)] == ["ok 😀"]
    assert policy.skipped == {"lone_surrogate": 3}
    assert "field 'steps[1].target'" in policy.first_errors[1]
    assert "field '\\ud800key'" in policy.first_errors[2]
    array = tmp_path / "data.json"
    array.write_text('[{"a": "b"}, {"a": "\\ud800"}]', encoding="utf-8")
    with pytest.raises(RecordError, match=r"data.json:record 1: field 'a': holds a lone"):
        list(iter_json_records(array))
    document = tmp_path / "squad.json"
    document.write_text('{"data": [{"paragraphs": [{"context": "\\udfff"}]}]}', encoding="utf-8")
    with pytest.raises(RecordError, match=r"field 'data\[0\].paragraphs\[0\].context'"):
        read_json(document)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_cannot_hold_are_invalid_json(tmp_path, number):
    path = tmp_path / "data.jsonl"
    path.write_text(f'{{"gold": {number}}}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"data.jsonl:line 1: invalid JSON") as info:
        list(iter_json_records(path))
    assert info.value.reason == "invalid_json"


def test_declared_field_types_are_checked_by_the_reader(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"meta": {}}\n{"meta": null}\n{}\n{"meta": "choices"}\n{"n": true}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"line 4: field 'meta': expected dict, got str"):
        list(iter_json_records(path, types={"meta": dict}))
    policy = ErrorPolicy("skip")
    rows = list(iter_json_records(path, policy, types={"meta": dict, "n": (int, float)}))
    assert [location for location, _ in rows] == ["line 1", "line 2", "line 3"]
    assert policy.skipped == {"wrong_type": 2}  # a bool is not a number


def test_an_output_whose_parent_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("keep", encoding="utf-8")
    with pytest.raises(SeqtuneError, match=r"cannot write there: .*file is a file, not a folder"):
        write_jsonl(tmp_path / "file" / "sub" / "out.jsonl", [{"a": 1}])
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(SeqtuneError, match="folder.jsonl: is a folder"):
        write_jsonl(tmp_path / "folder.jsonl", [{"a": 1}])
    assert (tmp_path / "file").read_text(encoding="utf-8") == "keep"


def test_stale_temporaries_are_recognised_by_name_only(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / ".data.jsonl.ab_cd123.tmp", tmp_path / "sub" / ".summary.json.x1y2z3w4.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / ".data.jsonl.TOOLONG99.tmp"]
    for path in stale + kept:
        path.write_text("x", encoding="utf-8")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in stale)
    # and atomic_write's own temporary names are of the recognised form
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "x.jsonl") as handle:
        temporaries = [p for p in tmp_path.iterdir() if p.name.startswith(".x.jsonl.")]
        assert len(temporaries) == 1 and remove_stale_temporaries(tmp_path) == temporaries
        raise RuntimeError(handle)
