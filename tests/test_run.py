"""`seqtune run`: every shipped pipeline config plans cleanly, and a tiny run goes end to end and resumes."""

import json
from pathlib import Path

import pytest

from seqtune.cli import main
from seqtune.config import build, load_yaml
from seqtune.errors import ConfigError
from seqtune.run import MARKER, RunConfig, plan_run

REPO = Path(__file__).resolve().parents[1]
PIPELINE_CONFIGS = [REPO / "configs" / "demo.yaml", *sorted((REPO / "configs" / "paper").glob("*.yaml"))]


@pytest.mark.parametrize("path", PIPELINE_CONFIGS, ids=lambda p: p.name)
def test_every_pipeline_config_plans(path, tmp_path):
    values = {**load_yaml(path), "output_dir": str(tmp_path / "run")}
    plan = plan_run(build(RunConfig, values))
    assert plan.evaluations, f"{path.name} evaluates nothing"
    for evaluation in plan.evaluations:
        assert evaluation.folder.is_relative_to(tmp_path)


def test_a_bad_section_fails_before_anything_runs(tmp_path):
    values = {**load_yaml(REPO / "configs" / "demo.yaml"), "output_dir": str(tmp_path / "run")}
    values["generate"] = {**values["generate"], "max_new_tokns": 3}
    with pytest.raises(ConfigError, match="unknown key 'max_new_tokns'"):
        plan_run(build(RunConfig, values))
    assert not (tmp_path / "run").exists()


TINY_RUN = """
output_dir: {out}
augment:
  inputs: [{repo}/tests/fixtures/train/train.jsonl]
  steps: [repeat]
train:
  preset: {repo}/configs/paper/train/tiny.yaml
  tiny_hidden_size: 32
  tiny_layers: 1
  tiny_vocab_size: 512
  max_steps: 3
  eval_steps: 2
  dev_size: 8
  global_batch_size: 8
  micro_batch_size: 8
  report_to: none
generate:
  max_new_tokens: 8
eval:
  - task: commonsense_qa
    data: {repo}/src/seqtune/samples/commonsense_qa.dev.jsonl
    limit: 4
    variants: [plain, repeat]
"""


def _stage_markers(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob(MARKER))}


@pytest.mark.slow
def test_tiny_run_end_to_end_then_resume_skips_finished_stages(tmp_path, caplog):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_RUN.format(out=tmp_path / "run", repo=REPO), encoding="utf-8")
    root = tmp_path / "run"

    # first only augment + train: as if the run had been interrupted after training
    assert main(["run", str(config), "stages=[augment, train]"]) == 0
    assert (root / "train" / "SIT" / "model").is_dir() and not (root / "eval").exists()
    after_training = _stage_markers(root)
    assert set(after_training) == {
        f"augment/{MARKER}",
        f"base_model/{MARKER}",
        f"train/IT/{MARKER}",
        f"train/SIT/{MARKER}",
    }

    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(["run", str(config)]) == 0
    logged = caplog.text
    assert "== train" not in logged and "== augment" not in logged, "finished stages must be skipped"
    assert "== generate IT / commonsense_qa" in logged and "== report" in logged
    markers = _stage_markers(root)
    assert {k: v for k, v in markers.items() if k in after_training} == after_training

    for arm in ("IT", "SIT"):
        summaries = json.loads((root / "eval" / arm / "commonsense_qa" / "summary.json").read_text())
        assert sorted(s["variant"] for s in summaries) == ["plain", "repeat"]
        assert all(s["n"] == 4 for s in summaries)
    assert (root / "report" / "report.md").is_file()
    # the two arms share one base model, so they differ only in their training data
    it_config = json.loads((root / "train" / "IT" / "manifest.json").read_text())["config"]
    assert it_config["model"] == str(root / "base_model")

    # a changed decoding setting re-generates, but does not re-train
    caplog.clear()
    with caplog.at_level("INFO"):
        assert main(["run", str(config), "generate.max_new_tokens=6"]) == 0
    assert "== train" not in caplog.text and "== generate SIT / commonsense_qa" in caplog.text
