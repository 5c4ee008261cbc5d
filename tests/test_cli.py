import subprocess
import sys

import pytest

from seqtune.cli import COMMANDS, main

HEAVY = ("torch", "transformers", "peft", "trl", "datasets")


def _help_in_fresh_interpreter(args: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import sys; from seqtune.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_top_level_help_imports_nothing_heavy():
    """What keeps --help fast is that it imports no ML library; its time is in BENCHMARKS.md, not asserted here."""
    result = _help_in_fresh_interpreter(["--help"])
    assert "augment" in result.stdout and "report" in result.stdout
    assert "HEAVY []" in result.stdout


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


def test_key_value_and_paths_may_follow_an_option(tmp_path, capsys):
    # argparse alone rejected these as "unrecognized arguments"; they must reach the config like any other
    assert main(["report", "runs", "--window", "3", "no_such_key=1"]) == 2
    assert "unknown key 'no_such_key'" in capsys.readouterr().err
    assert main(["report", "no_such_key=1", "--window", "3", str(tmp_path / "missing_run")]) == 2
    assert "unknown key 'no_such_key'" in capsys.readouterr().err
    assert main(["report", "window=2", "--window", "3", str(tmp_path / "missing_run")]) == 2
    assert "missing_run: no such run folder" in capsys.readouterr().err
    assert main(["report", "--window", "3", "x", "--no-such-option"]) == 2
    assert capsys.readouterr().err == (
        "seqtune: error: unrecognized arguments: --no-such-option (see: seqtune report --help)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["augmnet"], "argument COMMAND: invalid choice: 'augmnet'"),
        (["train", "--epochs"], "argument --epochs: expected one argument (see: seqtune train --help)"),
        (["train", "--resume=yes"], "argument --resume/--no-resume: ignored explicit argument 'yes'"),
    ],
)
def test_command_line_mistakes_are_one_line_too(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err


def test_a_file_system_refusal_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys):
    import seqtune.report.pipeline

    def refuse(config):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out" / "report.md"))

    monkeypatch.setattr(seqtune.report.pipeline, "run_report", refuse)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"seqtune: error: {tmp_path / 'out' / 'report.md'}: Permission denied\n"
