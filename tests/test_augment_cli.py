"""The `seqtune augment` commands of docs/augment.md and the README, in-process and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.cli import main
from seqtune.layout import manifest_path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src" / "seqtune" / "samples"
BAD = Path(__file__).parent / "fixtures" / "augment" / "bad"


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_quick_tour_commands(tmp_path, capsys):
    out = tmp_path / "sit.jsonl"
    assert (
        main(
            [
                "augment",
                str(SAMPLES / "alpaca.jsonl"),
                "--steps",
                "repeat",
                "--output",
                str(out),
                "--seed",
                "0",
            ]
        )
        == 0
    )
    assert "read 400 records" in capsys.readouterr().out
    assert manifest_path(out).is_file() and len(_lines(out)) > 400

    labelled = tmp_path / "labelled.jsonl"
    assert (
        main(
            [
                "augment",
                str(SAMPLES / "alpaca.jsonl"),
                "--steps",
                "repeat",
                "--output-format",
                "labelled",
                "--verbalization",
                "seen",
                "--no-include-original",
                "--output",
                str(labelled),
            ]
        )
        == 0
    )
    assert all(r["output"].startswith("Repetition:\n") for r in _lines(labelled))

    mixed = tmp_path / "multilingual.jsonl"
    assert (
        main(
            [
                "augment",
                str(SAMPLES / "alpaca.jsonl"),
                "--parallel",
                str(SAMPLES / "alpaca.en-zh.jsonl"),
                "--steps",
                "repeat",
                "--mix",
                "{sequential/zh: 100, original/zh: 0}",
                "--output",
                str(mixed),
            ]
        )
        == 0
    )
    kinds = [(r["kind"], r["lang"]) for r in _lines(mixed)]
    assert kinds.count(("sequential", "zh")) == 100 and ("original", "zh") not in kinds


def test_key_value_overrides_and_yaml(tmp_path):
    config = tmp_path / "augment.yaml"
    config.write_text(
        f"inputs: [{SAMPLES / 'alpaca.jsonl'}]\nsteps: [repeat]\nverbalization: unseen\n", encoding="utf-8"
    )
    out = tmp_path / "o.jsonl"
    assert main(["augment", str(config), f"output={out}", "seed=3"]) == 0
    assert {r["template"] for r in _lines(out) if r["kind"] == "sequential"} <= {
        "repeat/write-out",
        "repeat/reproduce",
        "repeat/once-more",
    }


def test_bad_input_is_one_line_error_and_skip_counts(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["augment", str(BAD / "mixed.jsonl"), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mixed.jsonl:line 2" in err and not out.exists()
    assert main(["augment", str(BAD / "mixed.jsonl"), "--output", str(out), "--on-error", "skip"]) == 0
    assert "invalid_json 1" in capsys.readouterr().out


def test_unknown_step_and_help(tmp_path, capsys):
    never = tmp_path / "never.jsonl"
    assert main(["augment", str(SAMPLES / "alpaca.jsonl"), "--steps", "dance", "--output", str(never)]) == 2
    assert "unknown step 'dance'" in capsys.readouterr().err and not never.exists()
    with pytest.raises(SystemExit):
        main(["augment", "--help"])
    assert "Intermediate steps, in order" in capsys.readouterr().out


def test_installed_script_runs_and_light_path_has_no_torch(tmp_path):
    script = REPO / ".venv" / "bin" / "seqtune"
    if not script.exists():
        pytest.skip("no .venv/bin/seqtune")
    out = tmp_path / "sit.jsonl"
    result = subprocess.run(
        [str(script), "augment", str(SAMPLES / "alpaca.jsonl"), "--steps", "repeat", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(_lines(out)) > 400
    probe = (
        "import sys; from seqtune.augment.pipeline import run_augment; import seqtune.sequential; "
        "from seqtune.steps import STEPS; STEPS.names(); from seqtune.lm.base import LMS; LMS.names(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules, 'openai' in sys.modules)"
    )
    light = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert light.stdout.strip() == "False False False", light.stderr


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqtune: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "parallel", "cache"])
def test_an_output_that_is_an_input_is_refused(tmp_path, capsys, monkeypatch, spelling):
    data = tmp_path / "data.jsonl"
    data.write_bytes((SAMPLES / "alpaca.jsonl").read_bytes())
    before = data.read_bytes()
    monkeypatch.chdir(tmp_path)
    inputs = [str(data)]
    output = {"same": str(data), "relative": "sub/../data.jsonl", "symlink": "link.jsonl"}.get(
        spelling, "out.jsonl"
    )
    extra = []
    if spelling == "symlink":
        (tmp_path / "link.jsonl").symlink_to(data)
    if spelling == "parallel":
        parallel = tmp_path / "par.jsonl"
        parallel.write_bytes((SAMPLES / "alpaca.en-zh.jsonl").read_bytes())
        inputs, output, extra = ["--steps", "[]"], str(parallel), ["--parallel", str(parallel)]
        data, before = parallel, parallel.read_bytes()
    if spelling == "cache":
        extra = ["--cache-path", str(data)]
    (tmp_path / "sub").mkdir()
    assert main(["augment", *inputs, *extra, "--output", output]) == 2
    assert "output is also an input" in _one_line_error(capsys)
    assert data.read_bytes() == before and not list(tmp_path.glob("*manifest.json"))


def test_a_lone_surrogate_in_the_input_is_one_line_naming_file_line_and_field(tmp_path, capsys):
    bad = BAD / "lone_surrogate.jsonl"
    out = tmp_path / "o.jsonl"
    assert main(["augment", str(bad), "--output", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"{bad}:line 2: field 'input'" in err and "surrogate" in err and not out.exists()
    assert main(["augment", str(bad), "--output", str(out), "--on-error", "skip"]) == 0
    assert "lone_surrogate 2" in capsys.readouterr().out
    assert [r["source_id"] for r in _lines(out) if r["kind"] == "original"] == [
        "lone_surrogate-0",
        "lone_surrogate-3",
    ]
    assert "\U0001f600" in out.read_text(encoding="utf-8")  # a valid surrogate pair is one character, kept


def test_vqa_command_of_docs_and_a_missing_image_as_one_line(tmp_path, capsys):
    from seqtune.shapeworld import build_shapeworld

    build_shapeworld(tmp_path / "sw", seed=0, train_images=2, val_images=1)
    out = tmp_path / "vqa.jsonl"
    command = [
        "augment",
        "--vqa",
        str(tmp_path / "sw" / "vqav2_train"),
        "--captions",
        str(tmp_path / "sw" / "captions" / "captions_train2014.json"),
        "--image-root",
        str(tmp_path / "sw" / "images"),
        "--output",
        str(out),
    ]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "VQA: " in printed and "written by steps/lang: caption/en" in printed
    assert {record["kind"] for record in _lines(out)} == {"original", "sequential"}
    missing = next((tmp_path / "sw" / "images" / "train2014").iterdir())
    missing.unlink()
    assert main(command) == 2
    err = _one_line_error(capsys)
    assert str(missing) in err and "not found" in err
    assert main([*command, "--on-error", "skip"]) == 0
    assert "missing_image" in capsys.readouterr().out
