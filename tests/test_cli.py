import subprocess
import sys

import pytest

from seqtune.cli import COMMANDS, main

HEAVY = ("torch", "transformers", "peft", "trl", "datasets")


def _help_in_fresh_interpreter(args: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import sys, time; t = time.time(); from seqtune.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy); print('SECONDS', time.time() - t)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_top_level_help_is_fast_and_light():
    result = _help_in_fresh_interpreter(["--help"])
    assert "augment" in result.stdout and "report" in result.stdout
    assert "HEAVY []" in result.stdout
    assert float(result.stdout.split("SECONDS")[-1]) < 1.0


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_help_lists_options_without_heavy_imports(command):
    result = _help_in_fresh_interpreter([command, "--help"])
    assert f"usage: seqtune {command}" in result.stdout
    assert "HEAVY []" in result.stdout


def test_config_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqtune: error:") and "config file not found" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_unknown_override_key_is_reported(capsys):
    assert main(["report", "no_such_key=1"]) == 2
    assert "unknown key 'no_such_key'" in capsys.readouterr().err
