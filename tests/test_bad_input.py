"""A corpus of bad input, written the way hostile or careless users write it, run through `seqtune.cli.main`.

Every case must end with exit status 2 and exactly one line on stderr that names the file, record, field or
option at fault; no traceback; and no input or earlier output changed (every file under the test folder is hashed
before and after).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqtune.cli import main

REPO = Path(__file__).resolve().parents[1]
CSQA = REPO / "src" / "seqtune" / "samples" / "commonsense_qa.dev.jsonl"
XQUAD_EN = REPO / "src" / "seqtune" / "samples" / "xquad.en.json"
GOOD = {"instruction": "Sort the words.", "input": "pear apple", "output": "apple pear"}
PREDICTION = {
    "id": "p1",
    "task": "commonsense_qa",
    "variant": "repeat",
    "prompt": "(prompt)",
    "model": "tiny",
    "adapter": None,
    "decoding": {"temperature": 0.0},
    "response": "Where is milk kept?\nA. fridge\nB. oven\nA",
    "gold": "A",
    "lang": "en",
    "question": "Where is milk kept?\nA. fridge\nB. oven",
    "steps": ["repeat"],
    "expected": ["Where is milk kept?\nA. fridge\nB. oven"],
    "template": "repeat/paper",
    "template_split": "seen",
    "response_prefix": "",
    "meta": {"choices": {"A": "fridge", "B": "oven"}},
}
DEEP = "[" * 100_000 + "]" * 100_000
LONE = "\\ud800"  # as it appears in a JSON file: legal JSON, not Unicode text


# ---- how the files of a case are made ----


def write(root: Path, name: str, text: str | bytes) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def jsonl(*records: dict | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def truncated_gz(text: str) -> bytes:
    whole = gzip.compress((text * 50).encode())
    return whole[: len(whole) // 2]


def a_file_where_a_folder_should_be(root: Path, name: str = "out") -> Path:
    write(root, "blocker", "I am a file")
    return root / "blocker" / name


def read_only_folder(root: Path) -> Path:
    """A folder nobody may write into, root included (root ignores the mode bits, not the immutable flag)."""
    folder = root / "read_only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
            pytest.skip("cannot make a folder read-only for root here")
    return folder


def _release(root: Path) -> None:
    folder = root / "read_only"
    if folder.exists():
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(stat.S_IRWXU)


def run_yaml(root: Path, **sections) -> str:
    config = {
        "output_dir": str(root / "run"),
        "augment": {"inputs": [write(root, "alpaca.jsonl", jsonl(GOOD, GOOD))], "steps": ["repeat"]},
        "train": {"max_steps": 1, "dev_size": 0, "keep_best": False},
        "eval": [{"task": "commonsense_qa", "data": str(CSQA), "variants": ["repeat"]}],
    }
    config.update(sections)
    return write(root, "run.yaml", json.dumps(config))  # JSON is YAML


def scored_run(root: Path, summary: str) -> str:
    folder = root / "runs" / "it" / "commonsense_qa"
    write(folder, "summary.json", summary)
    write(folder, "scores.jsonl", jsonl({"id": "p1", "correct": True}))
    return str(root / "runs")


# ---- the corpus ----


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]
    """Makes the case's files under the folder it is given and returns the command line."""
    names: str
    """A regular expression the error line must match: the file/record/field/option at fault."""


def augment(text: str | bytes, name: str = "in.jsonl", *extra: str) -> Callable[[Path], list[str]]:
    return lambda root: ["augment", write(root, name, text), "--output", str(root / "out.jsonl"), *extra]


def augment_with(*extra: str) -> Callable[[Path], list[str]]:
    return lambda root: [
        "augment",
        write(root, "in.jsonl", jsonl(GOOD)),
        f"output={root / 'out.jsonl'}",
        *extra,
    ]


def train(text: str | bytes, name: str = "train.jsonl", *extra: str) -> Callable[[Path], list[str]]:
    return lambda root: ["train", f"data={write(root, name, text)}", f"output_dir={root / 'model'}", *extra]


def train_with(*extra: str) -> Callable[[Path], list[str]]:
    return train(jsonl(GOOD), "train.jsonl", *extra)


def generate(text: str | bytes, name: str = "csqa.jsonl", *extra: str) -> Callable[[Path], list[str]]:
    return lambda root: [
        "generate",
        "task=commonsense_qa",
        f"data={write(root, name, text)}",
        "model=tiny-model-that-is-never-loaded",
        f"output={root / 'gen'}",
        *extra,
    ]


def generate_with(*extra: str) -> Callable[[Path], list[str]]:
    return lambda root: [
        "generate",
        "task=commonsense_qa",
        f"data={CSQA}",
        "model=m",
        f"output={root / 'g'}",
        *extra,
    ]


def score(text: str | bytes, name: str = "predictions.jsonl", *extra: str) -> Callable[[Path], list[str]]:
    return lambda root: ["score", write(root, name, text), f"output={root / 'scored'}", *extra]


def report(summary: str, *extra: str) -> Callable[[Path], list[str]]:
    return lambda root: ["report", scored_run(root, summary), f"output={root / 'report'}", *extra]


def run(**sections) -> Callable[[Path], list[str]]:
    return lambda root: ["run", run_yaml(root, **sections)]


CSQA_LINE = CSQA.read_text(encoding="utf-8").splitlines()[0]
GOOD_SUMMARY = json.dumps(
    [{"task": "commonsense_qa", "variant": "repeat", "model": "m", "n": 1, "metrics": {}}]
)

CASES = [
    # augment: the data file
    Case(
        "augment-broken-json-line",
        augment(jsonl(GOOD) + '{"instruction": \n'),
        r"in\.jsonl:line 2: invalid JSON",
    ),
    Case(
        "augment-deep-nesting",
        augment('{"instruction": ' + DEEP + "}\n"),
        r"in\.jsonl:line 1: .*nested deeper",
    ),
    Case(
        "augment-truncated-gz",
        augment(truncated_gz(jsonl(GOOD)), "in.jsonl.gz"),
        r"in\.jsonl\.gz: not a readable",
    ),
    Case("augment-fake-gz", augment(jsonl(GOOD), "in.jsonl.gz"), r"in\.jsonl\.gz: not a readable gzip"),
    Case(
        "augment-fake-json-gz",
        augment(json.dumps([GOOD]), "in.json.gz"),
        r"in\.json\.gz: not a readable gzip",
    ),
    Case(
        "augment-lone-surrogate-input",
        augment('{"instruction": "Sort.", "input": "pear ' + LONE + '", "output": "x"}\n'),
        r"in\.jsonl:line 1: field 'input': holds a lone",
    ),
    Case(
        "augment-lone-surrogate-in-json-array",
        augment(
            '[{"instruction": "a", "input": "b", "output": "c"}, {"instruction": "' + LONE + '"}]', "in.json"
        ),
        r"in\.json:record 1: field 'instruction'",
    ),
    Case(
        "augment-nan-in-record",
        augment('{"instruction": "a", "input": NaN, "output": "c"}\n'),
        r"line 1: .*NaN",
    ),
    Case(
        "augment-invalid-utf8",
        augment(b'{"instruction": "caf\xe9", "output": "x"}\n'),
        r"line 1: not valid UTF-8",
    ),
    Case(
        "augment-array-of-strings",
        augment('["Sort the words."]', "in.json"),
        r"in\.json:record 0: expected a",
    ),
    Case(
        "augment-object-not-array", augment(json.dumps(GOOD), "in.json"), r"in\.json: expected a JSON array"
    ),
    Case("augment-empty-file", augment("\n\n"), r"in\.jsonl: the file holds no records"),
    Case(
        "augment-instruction-is-a-number", augment(jsonl({**GOOD, "instruction": 5})), r"field 'instruction'"
    ),
    Case(
        "augment-output-parent-is-a-file",
        lambda root: [
            *augment(jsonl(GOOD))(root)[:2],
            "--output",
            str(a_file_where_a_folder_should_be(root, "out.jsonl")),
        ],
        r"blocker is a file, not a folder",
    ),
    Case(
        "augment-output-read-only",
        lambda root: [*augment(jsonl(GOOD))(root)[:2], "--output", str(read_only_folder(root) / "out.jsonl")],
        r"read_only.* (not writable|cannot write)",
    ),
    Case(
        "augment-output-is-the-input",
        lambda root: ["augment", write(root, "in.jsonl", jsonl(GOOD)), "--output", str(root / "in.jsonl")],
        r"in\.jsonl: .*output is also an input",
    ),
    Case(
        "augment-mix-nan", augment_with("mix={sequential/en: .nan}"), r"mix\.sequential/en: must be a finite"
    ),
    Case("augment-temperature-nan", augment_with("temperature=nan"), r"temperature: must be a finite number"),
    Case(
        "augment-timeout-inf",
        augment_with("timeout_s=inf"),
        r"timeout_s: must be a finite",
    ),
    Case(
        "augment-timeout-zero",
        augment_with("timeout_s=0"),
        r"timeout_s: must be > 0",
    ),
    Case(
        "augment-timeout-negative",
        augment_with("--timeout-s", "-5"),
        r"timeout_s: must be > 0",
    ),
    Case("augment-misspelt-option", augment_with("--outptu", "x.jsonl"), r"unrecognized arguments: --outptu"),
    Case("augment-option-without-value", augment_with("--on-error"), r"argument --on-error: expected one"),
    Case("augment-unknown-step", augment_with("steps=[repeat, repaet]"), r"repaet"),
    Case("augment-seed-infinite", augment_with("seed=.inf"), r"seed: expected int"),
    # train: options and the data file
    Case(
        "train-learning-rate-nan", train_with("learning_rate=nan"), r"learning_rate: must be a finite number"
    ),
    Case("train-epochs-inf", train_with("epochs=inf"), r"epochs: must be a finite number"),
    Case("train-lora-dropout-nan", train_with("--lora-dropout", "nan"), r"lora_dropout: must be a finite"),
    Case("train-warmup-1e999", train_with("weight_decay=1e999"), r"weight_decay: must be a finite number"),
    Case(
        "train-data-deep-nesting",
        train('{"instruction": ' + DEEP + "}\n"),
        r"train\.jsonl:line 1: .*nested",
    ),
    Case(
        "train-data-lone-surrogate",
        train(jsonl(GOOD) + '{"instruction": "a", "input": "b", "output": "' + LONE + '"}\n'),
        r"train\.jsonl:line 2: field 'output': holds a lone",
    ),
    Case(
        "train-data-truncated-gz",
        train(truncated_gz(jsonl(GOOD)), "train.jsonl.gz"),
        r"train\.jsonl\.gz: not a",
    ),
    Case(
        "train-model-folder-without-a-model",
        lambda root: [*train_with()(root), f"model={(root / 'empty_model').mkdir() or root / 'empty_model'}"],
        r"empty_model",
    ),
    # generate: options and the task data
    Case(
        "generate-temperature-nan", generate_with("temperature=nan"), r"temperature: must be a finite number"
    ),
    Case("generate-top-p-nan", generate_with("top_p=nan"), r"top_p: must be a finite number"),
    Case(
        "generate-timeout-zero",
        generate_with("backend=openai", "timeout_s=0"),
        r"timeout_s: must be > 0",
    ),
    Case(
        "generate-data-deep-nesting",
        generate('{"question": ' + DEEP + "}\n"),
        r"csqa\.jsonl:line 1: .*nested",
    ),
    Case(
        "generate-data-lone-surrogate",
        generate(CSQA_LINE.replace('"bank"', '"bank ' + LONE + '"') + "\n"),
        r"csqa\.jsonl:line 1: field 'question\.choices\[0\]\.text': holds a lone",
    ),
    Case(
        "generate-data-truncated-gz",
        generate(truncated_gz(CSQA_LINE + "\n"), "csqa.jsonl.gz"),
        r"csqa\.jsonl\.gz",
    ),
    Case(
        "generate-xquad-deep-nesting",
        lambda root: [
            "generate",
            "task=xquad",
            f"data={write(root, 'xquad.en.json', '{' + chr(34) + 'data' + chr(34) + ': ' + DEEP + '}')}",
            "model=m",
            f"output={root / 'gen'}",
            "task_options={languages: [en]}",
        ],
        r"xquad\.en\.json: .*nested deeper",
    ),
    Case(
        "generate-output-parent-is-a-file",
        lambda root: [*generate_with()(root)[:-1], f"output={a_file_where_a_folder_should_be(root)}"],
        r"blocker",
    ),
    Case(
        "generate-timeout-negative",
        generate_with("backend=openai", "--timeout-s", "-1"),
        r"timeout_s: must be > 0",
    ),
    # score: the predictions file and options
    Case(
        "score-empty-gz", score(gzip.compress(b""), "predictions.jsonl.gz"), r"jsonl\.gz: the file holds no"
    ),
    Case(
        "score-lone-surrogate-response",
        score(jsonl({**PREDICTION, "response": "x"}).replace('"x"', '"A ' + LONE + '"')),
        r"predictions\.jsonl:line 1: field 'response': holds a lone",
    ),
    Case(
        "score-deep-nesting", score('{"id": ' + DEEP + "}\n"), r"predictions\.jsonl:line 1: .*nested deeper"
    ),
    Case("score-nan-gold", score(jsonl(PREDICTION).replace('"gold": "A"', '"gold": NaN')), r"line 1: .*NaN"),
    Case(
        "score-truncated-gz",
        score(truncated_gz(jsonl(PREDICTION)), "predictions.jsonl.gz"),
        r"jsonl\.gz: not a",
    ),
    Case(
        "score-meta-not-a-mapping",
        score(jsonl({**PREDICTION, "meta": "A: fridge, B: oven"})),
        r"predictions\.jsonl:line 1: field 'meta'",
    ),
    Case(
        "score-threshold-nan",
        score(jsonl(PREDICTION), "p.jsonl", "repeat_min_rouge_l=nan"),
        r"repeat_min_rouge_l",
    ),
    Case(
        "score-output-parent-is-a-file",
        lambda root: [*score(jsonl(PREDICTION))(root)[:2], f"output={a_file_where_a_folder_should_be(root)}"],
        r"blocker",
    ),
    Case(
        "score-output-read-only",
        lambda root: [*score(jsonl(PREDICTION))(root)[:2], f"output={read_only_folder(root)}"],
        r"read_only",
    ),
    Case(
        "score-predictions-are-its-own-output",
        lambda root: [
            "score",
            write(root, "scored/scores.jsonl", jsonl(PREDICTION)),
            f"output={root / 'scored'}",
        ],
        r"scores\.jsonl: .*output is also an input",
    ),
    # report: scored runs
    Case("report-summary-deep-nesting", report(DEEP), r"summary\.json: .*nested deeper"),
    Case("report-summary-nan", report(GOOD_SUMMARY.replace('"n": 1', '"n": NaN')), r"summary\.json: .*NaN"),
    Case(
        "report-summary-lone-surrogate",
        report(GOOD_SUMMARY.replace('"model": "m"', '"model": "m' + LONE + '"')),
        r"summary\.json: field '\[0\]\.model': holds a lone",
    ),
    Case("report-window-infinite", report(GOOD_SUMMARY, "window=.inf"), r"window: expected int"),
    Case(
        "report-output-parent-is-a-file",
        lambda root: [*report(GOOD_SUMMARY)(root)[:2], f"output={a_file_where_a_folder_should_be(root)}"],
        r"blocker",
    ),
    Case("report-summary-cut-short", report(GOOD_SUMMARY[:40]), r"summary\.json:1: invalid JSON"),
    # run: the pipeline config
    Case(
        "run-mix-nan",
        lambda root: run_yaml_argv(
            root, augment={"inputs": [str(CSQA)], "mix": {"sequential/en": float("nan")}}
        ),
        r"mix\.sequential/en: must be a finite number",
    ),
    Case(
        "run-arm-absolute-path", run(arms={"/tmp/v": {"data": "original"}}), r"arms: '/tmp/v' is not a plain"
    ),
    Case(
        "run-arm-escapes-upwards", run(arms={"../../x": {"data": "original"}}), r"arms: '\.\./\.\./x' is not"
    ),
    Case("run-arm-hidden", run(arms={".git": {"data": "original"}}), r"arms: '\.git' is not a plain name"),
    Case("run-unknown-task", run(eval=[{"task": "comonsense_qa"}]), r"eval\[0\]\.task: unknown task"),
    Case(
        "run-unknown-variant",
        run(eval=[{"task": "commonsense_qa", "data": str(CSQA), "variants": ["repeat", "reapeat"]}]),
        r"eval\[0\]\.variants: .*reapeat",
    ),
    Case(
        "run-unknown-step",
        lambda root: run_yaml_argv(root, augment={"inputs": [str(CSQA)], "steps": ["paraphrse"]}),
        r"augment\.steps: unknown step.*paraphrse",
    ),
    Case(
        "run-duplicate-eval-task",
        run(eval=[{"task": "probe", "data": str(CSQA)}, {"task": "probe", "data": str(CSQA)}]),
        r"eval\[1\]: task 'probe' is already evaluated",
    ),
    Case(
        "run-learning-rate-nan",
        run(train={"learning_rate": "nan"}),
        r"learning_rate: must be a finite number",
    ),
    Case("run-arm-data-missing", run(arms={"SIT": {"data": "sit.jsonl"}}), r"arms\.SIT\.data: no such file"),
    Case(
        "run-into-somebody-elses-folder",
        lambda root: [*run()(root), f"output_dir={Path(write(root, 'home/notes.txt', 'mine')).parent}"],
        r"home: the folder already holds files that seqtune did not create",
    ),
    Case(
        "run-output-dir-is-a-file",
        lambda root: [*run()(root), f"output_dir={a_file_where_a_folder_should_be(root)}"],
        r"blocker is a file, not a folder",
    ),
    Case(
        "run-input-inside-the-run-folder",
        lambda root: run_yaml_argv(
            root,
            augment={"inputs": [write(root, "run/augment/data.jsonl", jsonl(GOOD))], "steps": ["repeat"]},
        ),
        r"data\.jsonl: an input inside the output folder",
    ),
    Case(
        "run-output-read-only",
        lambda root: [*run()(root), f"output_dir={read_only_folder(root) / 'run'}"],
        r"read_only.* (not writable|cannot write)",
    ),
    Case(
        "run-config-not-a-mapping",
        lambda root: ["run", write(root, "run.yaml", "- a\n- b\n")],
        r"run\.yaml: ",
    ),
]


def run_yaml_argv(root: Path, **sections) -> list[str]:
    return ["run", run_yaml(root, **sections)]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(case, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        argv = case.argv(work)
        write(work, "earlier/output.jsonl", jsonl(GOOD))  # an earlier output that must survive
        before = _snapshot(work)
        try:
            status = main(["-q", *argv])
        except SystemExit as exit_:  # argparse's own errors
            status = exit_.code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert status == 2, err
        assert len(err.splitlines()) == 1, err
        assert re.search(case.names, err), err
        after = _snapshot(work)
        assert {name: after.get(name) for name in before} == before, "an input or earlier output changed"
        assert not [name for name in after if name.endswith(".tmp")], "a temporary file was left behind"
    finally:
        _release(work)


def test_the_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES), "two cases share a name"
    covered = {case.name.split("-")[0] for case in CASES}
    assert covered == {"augment", "train", "generate", "score", "report", "run"}
