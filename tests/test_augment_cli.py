"""The `seqtune augment` commands of docs/augment.md and the README, in-process and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.cli import main

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
    assert (tmp_path / "manifest.json").is_file() and len(_lines(out)) > 400

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
    }


def test_bad_input_is_one_line_error_and_skip_counts(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["augment", str(BAD / "mixed.jsonl"), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mixed.jsonl:line 2" in err and not out.exists()
    assert main(["augment", str(BAD / "mixed.jsonl"), "--output", str(out), "--on-error", "skip"]) == 0
    assert "invalid_json 1" in capsys.readouterr().out


def test_unknown_step_and_help(capsys):
    assert (
        main(["augment", str(SAMPLES / "alpaca.jsonl"), "--steps", "dance", "--output", "/tmp/never.jsonl"])
        == 2
    )
    assert "unknown step 'dance'" in capsys.readouterr().err
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
        "import sys; from seqtune.augment.pipeline import run_augment; import seqtune.parse; "
        "from seqtune.steps import STEPS; STEPS.names(); from seqtune.providers.base import PROVIDERS; PROVIDERS.names(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    light = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert light.stdout.strip() == "False False", light.stderr
