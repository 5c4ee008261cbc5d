import gzip
import json

import pytest

from seqtune.errors import RecordError, SeqtuneError
from seqtune.records import ErrorPolicy, atomic_write, iter_json_records, read_json, require_str, write_jsonl


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
