"""`seqtune run`: every shipped pipeline config plans cleanly, and a tiny run goes end to end and resumes."""

import json
import os
import shutil
from pathlib import Path

import pytest

from seqtune import layout
from seqtune.cli import main
from seqtune.config import build, load_yaml, set_dotted
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.layout import STAGE_DONE as MARKER
from seqtune.manifest import HashCache, write_manifest
from seqtune.run import RunConfig, plan_run, run_pipeline

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


# ---- safety of the run folder, markers and names (issue 11: defects 1, 5, 8, 12) ----
# The stages themselves are replaced by fakes that record their calls: these tests are about what `run`
# decides (what to run, what to delete, what to refuse), and must not depend on torch or a model.


@pytest.fixture
def fake_stages(monkeypatch):
    import seqtune.generate.pipeline
    import seqtune.report.pipeline
    import seqtune.score
    import seqtune.train.pipeline

    calls: list[tuple[str, str]] = []

    def train(config):
        calls.append(("train", f"{Path(config.output_dir).name} resume={config.resume}"))
        out = Path(config.output_dir)
        (out / "checkpoints" / "checkpoint-1").mkdir(parents=True, exist_ok=True)
        (out / "model").mkdir(exist_ok=True)
        return out

    def base(config, folder):
        calls.append(("base", ""))
        shutil.rmtree(folder, ignore_errors=True)  # as the real builder does: the new model replaces the old
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}", encoding="utf-8")
        return folder

    def generate(config):
        calls.append(("generate", config.model))
        (Path(config.output) / "predictions.jsonl").write_text("{}\n", encoding="utf-8")

    def report(config):
        calls.append(("report", ""))
        (Path(config.output) / "report.md").write_text("# report\n", encoding="utf-8")
        return Path(config.output) / "report.md"

    monkeypatch.setattr(seqtune.train.pipeline, "run_train", train)
    monkeypatch.setattr(seqtune.train.pipeline, "build_tiny_base", base)
    monkeypatch.setattr(seqtune.generate.pipeline, "run_generate", generate)
    monkeypatch.setattr(seqtune.score, "run_score", lambda config: calls.append(("score", "")))
    monkeypatch.setattr(seqtune.report.pipeline, "run_report", report)
    return calls


def _values(tmp_path: Path, **changes) -> dict:
    data = tmp_path / "inputs" / "train.jsonl"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes((REPO / "tests" / "fixtures" / "train" / "train.jsonl").read_bytes())
    values = {
        "output_dir": str(tmp_path / "run"),
        "augment": {"inputs": [str(data)], "steps": ["repeat"]},
        "train": {"max_steps": 1, "dev_size": 0, "keep_best": False},
        "eval": [
            {
                "task": "commonsense_qa",
                "data": str(REPO / "src" / "seqtune" / "samples" / "commonsense_qa.dev.jsonl"),
                "variants": ["plain", "repeat"],
            }
        ],
    }
    for key, value in changes.items():
        set_dotted(values, key, value)
    return values


def _run(values: dict) -> Path:
    return run_pipeline(build(RunConfig, values))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("arm", ["/tmp/v", "../../x", "..", ".", "", ".hidden", "a/b", "a\\b", "x\0y"])
def test_arm_names_must_be_plain_names(tmp_path, arm):
    values = _values(tmp_path, arms={arm: {"data": "original"}})
    with pytest.raises(ConfigError, match="arms: .* is not a plain name"):
        build(RunConfig, values)


def test_a_run_refuses_a_folder_it_did_not_create_and_deletes_nothing(tmp_path, fake_stages):
    root = tmp_path / "run"
    (root / "train" / "IT" / "checkpoints").mkdir(parents=True)
    (root / "train" / "IT" / "checkpoints" / "mine.pt").write_bytes(b"weights")
    values = _values(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(SeqtuneError, match="already holds files that seqtune did not create"):
        _run(values)
    assert _tree(tmp_path) == before and fake_stages == []
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(SeqtuneError, match="file is a file, not a folder"):
        _run(_values(tmp_path, output_dir=str(tmp_path / "file" / "run")))


def test_stale_checkpoints_are_removed_only_where_the_run_created_them(tmp_path, fake_stages):
    _run(_values(tmp_path))
    assert ("train", "IT resume=False") in fake_stages
    (tmp_path / "run" / "train" / "IT" / "checkpoints" / "checkpoint-1" / "w").write_text(
        "old", encoding="utf-8"
    )
    fake_stages.clear()
    _run(_values(tmp_path, **{"train.learning_rate": 1e-4}))  # another config: its checkpoints are stale
    assert ("train", "IT resume=False") in fake_stages
    assert not (tmp_path / "run" / "train" / "IT" / "checkpoints" / "checkpoint-1" / "w").exists()
    # a folder of somebody else's is never emptied, even inside the run folder
    foreign = tmp_path / "run" / "train" / "other"
    (foreign / "checkpoints").mkdir(parents=True)
    with pytest.raises(SeqtuneError, match="not created by seqtune; refusing to delete"):
        layout.remove_owned(foreign / "checkpoints", owner=foreign)
    with pytest.raises(SeqtuneError, match="refusing to delete"):
        layout.remove_owned(tmp_path / "inputs", owner=tmp_path / "run")  # outside its owner
    assert (foreign / "checkpoints").is_dir() and (tmp_path / "inputs" / "train.jsonl").is_file()


def test_a_changed_input_file_runs_its_stage_again(tmp_path, fake_stages):
    _run(_values(tmp_path))
    assert [stage for stage, _ in fake_stages].count("train") == 2
    fake_stages.clear()
    _run(_values(tmp_path))
    assert [stage for stage, _ in fake_stages] == ["score", "score", "report"]  # all else is done

    data = tmp_path / "inputs" / "train.jsonl"
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same content
    fake_stages.clear()
    _run(_values(tmp_path))
    assert "train" not in [stage for stage, _ in fake_stages]

    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")  # same size, other content
    fake_stages.clear()
    _run(_values(tmp_path))
    stages = [stage for stage, _ in fake_stages]
    assert stages.count("base") == 1 and stages.count("train") == 2 and stages.count("generate") == 2
    assert (
        json.loads((tmp_path / "run" / "augment" / "original.jsonl").read_text().splitlines()[0])["id"]
        == json.loads(lines[1])["id"]
    )


def test_a_changed_evaluation_file_regenerates_without_retraining(tmp_path, fake_stages):
    data = tmp_path / "csqa.jsonl"
    data.write_bytes((REPO / "src" / "seqtune" / "samples" / "commonsense_qa.dev.jsonl").read_bytes())
    values = _values(tmp_path)
    values["eval"][0]["data"] = str(data)
    _run(values)
    data.write_bytes(data.read_bytes().replace(b'"A"', b'"B"', 1))
    fake_stages.clear()
    _run(values)
    assert [stage for stage, _ in fake_stages].count("generate") == 2 and (
        "train",
        "IT resume=False",
    ) not in (fake_stages)


def test_failures_leave_no_half_built_base_model_nor_empty_checkpoints(tmp_path, fake_stages, monkeypatch):
    import seqtune.train.pipeline

    working_base = seqtune.train.pipeline.build_tiny_base  # the fixture's fake

    def broken_base(config, folder):
        (folder.parent / ".base_model.ab12cd34").mkdir(parents=True)  # the builder's staging folder
        raise SeqtuneError("tokenizer: out of memory")

    monkeypatch.setattr(seqtune.train.pipeline, "build_tiny_base", broken_base)
    with pytest.raises(SeqtuneError, match="out of memory"):
        _run(_values(tmp_path))
    assert not (tmp_path / "run" / ".base_model.ab12cd34").exists()
    assert not (tmp_path / "run" / "base_model").exists()

    def broken_train(config):
        (Path(config.output_dir) / "checkpoints").mkdir(parents=True)
        raise SeqtuneError("data: bad record")

    monkeypatch.setattr(seqtune.train.pipeline, "build_tiny_base", working_base)
    monkeypatch.setattr(seqtune.train.pipeline, "run_train", broken_train)
    with pytest.raises(SeqtuneError, match="bad record"):
        _run(_values(tmp_path))
    assert (tmp_path / "run" / "base_model" / "config.json").is_file()  # a finished stage is kept
    assert not (tmp_path / "run" / "train" / "IT" / "checkpoints").exists()


def test_temporaries_of_a_killed_run_are_removed_when_it_resumes(tmp_path, fake_stages):
    _run(_values(tmp_path, stages=["augment"]))
    stale = tmp_path / "run" / "augment" / ".data.jsonl.k1ll3d00.tmp"
    stale.write_text('{"half": ', encoding="utf-8")
    _run(_values(tmp_path, stages=["augment"]))
    assert not stale.exists()


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, fake_stages, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(_values(tmp_path)), encoding="utf-8")
    _run(_values(tmp_path, stages=["augment"]))
    with layout.locked(tmp_path / "run", "the test, holding the folder"):
        assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "the test, holding the folder" in err and "is writing to this folder" in err
    )
    assert fake_stages == []
    assert main(["run", str(config), "stages=[augment]"]) == 0  # the lock goes with its holder
    assert not list((tmp_path / "run").rglob(layout.LOCK))  # and so does its file


def test_a_lock_left_by_a_killed_process_is_taken_over_and_removed(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / layout.LOCK).write_text("seqtune process 4242 (a run that was killed)\n", encoding="utf-8")
    with layout.locked(folder, "the next run"):
        assert "the next run" in (folder / layout.LOCK).read_text(encoding="utf-8")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eval": [{"task": "comonsense_qa"}]}, r"eval\[0\].task: unknown task 'comonsense_qa'"),
        ({"eval": [{"task": "commonsense_qa", "variants": ["repeat", "reapeat"]}]}, "no variant.* reapeat"),
        ({"augment.steps": ["repeat", "paraphrse"]}, "augment.steps: unknown step.* paraphrse"),
        ({"augment.parallel_steps": ["tranlate"]}, "augment.parallel_steps: unknown step.* tranlate"),
        ({"eval": [{"task": "probe"}, {"task": "probe"}]}, r"eval\[1\]: task 'probe' is already evaluated"),
        ({"eval": [{"task": "../../etc"}]}, r"eval\[0\].task: '../../etc' is not a plain name"),
        (
            {"eval": [{"task": "xquad", "task_options": {"languages": ["de", "jp"]}}]},
            r"eval\[0\].task_options: xquad: unknown language\(s\) jp",
        ),
        ({"eval": [{"task": "probe", "task_options": {"langs": ["de"]}}]}, r"unknown task_options langs"),
    ],
)
def test_every_name_is_checked_before_the_first_stage(tmp_path, fake_stages, change, message):
    values = _values(tmp_path, **change)
    with pytest.raises(ConfigError, match=message):
        _run(values)
    assert not (tmp_path / "run").exists() and fake_stages == []


def test_long_texts_in_a_config_are_not_taken_for_paths(tmp_path):
    values = _values(tmp_path, **{"augment.paraphrase_prompt": "Paraphrase it. " * 40})
    assert plan_run(build(RunConfig, values)).augment.paraphrase_prompt.startswith("Paraphrase")
    with pytest.raises(ConfigError, match="arms.SIT.data: no such file"):
        _run(_values(tmp_path, **{"arms.SIT": {"data": "x" * 5000}}))


def test_missing_inputs_and_inputs_inside_the_run_folder_are_refused_before_any_stage(tmp_path, fake_stages):
    with pytest.raises(ConfigError, match=r"arms.SIT.data: no such file: .*nope.jsonl"):
        _run(_values(tmp_path, **{"arms.SIT": {"data": str(tmp_path / "nope.jsonl")}}))
    with pytest.raises(ConfigError, match=r"eval\[0\].data: no such file or folder"):
        _run(_values(tmp_path, eval=[{"task": "commonsense_qa", "data": str(tmp_path / "csqa.jsonl")}]))
    _run(_values(tmp_path, stages=["augment"]))
    produced = tmp_path / "run" / "augment" / "data.jsonl"
    before = produced.read_bytes()
    with pytest.raises(SeqtuneError, match="an input inside the output folder"):
        _run(_values(tmp_path, **{"augment.inputs": [str(produced)]}))
    assert produced.read_bytes() == before


# ---- manifests, hashes, output-is-input (issue 11: defects 3, 5, 9) ----


def test_each_output_gets_its_own_manifest(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    for output, n in ((first, 1), (second, 2)):
        output.write_text("x", encoding="utf-8")
        write_manifest(output, stage="augment", config={"n": n}, started=0.0)
    assert json.loads((tmp_path / "a.jsonl.manifest.json").read_text())["config"] == {"n": 1}
    assert json.loads((tmp_path / "b.jsonl.gz.manifest.json").read_text())["config"] == {"n": 2}
    assert write_manifest(tmp_path, stage="train", config={}, started=0.0) == tmp_path / "manifest.json"
    assert (
        write_manifest(tmp_path, stage="score", config={}, started=0.0, name="x.json") == tmp_path / "x.json"
    )


def test_hash_cache_reads_a_file_again_only_when_it_changed(tmp_path, monkeypatch):
    import seqtune.manifest

    reads = []
    real = seqtune.manifest.file_sha256
    monkeypatch.setattr(seqtune.manifest, "file_sha256", lambda path: reads.append(path) or real(path))
    data = tmp_path / "model" / "weights.bin"
    data.parent.mkdir()
    data.write_bytes(b"1" * 100)
    cache = HashCache(tmp_path / "cache.json")
    first = cache.content(data.parent)
    cache.save()
    assert HashCache(tmp_path / "cache.json").content(data.parent) == first and len(reads) == 1
    data.write_bytes(b"2" * 100)
    os.utime(data, ns=(0, data.stat().st_mtime_ns + 10**9))
    assert HashCache(tmp_path / "cache.json").content(data.parent) != first and len(reads) == 2


def test_an_output_that_is_an_input_is_refused_however_it_is_spelled(tmp_path, monkeypatch):
    data = tmp_path / "data.jsonl"
    data.write_text("{}\n", encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(data)
    os.link(data, tmp_path / "hard.jsonl")
    monkeypatch.chdir(tmp_path)
    for output in ("data.jsonl", "./sub/../data.jsonl", tmp_path / "link.jsonl", tmp_path / "hard.jsonl"):
        with pytest.raises(SeqtuneError, match="output is also an input"):
            layout.refuse_output_that_is_input(output, [data])
    layout.refuse_output_that_is_input(tmp_path / "out.jsonl", [data])
    layout.refuse_output_that_is_input(tmp_path, [data])  # a folder output that holds its input: fine
    with pytest.raises(SeqtuneError, match="an input inside the output folder"):
        layout.refuse_output_that_is_input(tmp_path, [data], folder=True)


# ---- a multimodal run: VQA augment, the tiny InstructBLIP shared by the arms, an untuned arm (issue 8) ----


def _vqa_values(tmp_path: Path) -> dict:
    from seqtune.shapeworld import build_shapeworld

    world = tmp_path / "world"
    build_shapeworld(world, seed=0, train_images=3, val_images=2)
    return {
        "output_dir": str(tmp_path / "run"),
        "augment": {
            "vqa": [str(world / "vqav2_train")],
            "captions": str(world / "captions" / "captions_train2014.json"),
            "image_root": str(world / "images"),
        },
        "arms": {"base": {"untuned": True}, "IT": {"data": "original"}, "SIT": {"data": "augmented"}},
        "train": {
            "model": "tiny-instructblip",
            "finetune": "qformer",
            "max_steps": 1,
            "dev_size": 0,
            "keep_best": False,
        },
        "eval": [
            {
                "task": "vqav2",
                "data": str(world / "vqav2_val"),
                "variants": ["plain", "caption", "caption-neg"],
                "task_options": {
                    "image_root": str(world / "images"),
                    "captions": str(world / "captions" / "captions_train2014.json"),
                },
            }
        ],
    }


def test_a_vqa_run_shares_one_tiny_instructblip_and_evaluates_it_untuned(tmp_path, fake_stages, monkeypatch):
    import seqtune.tiny_model

    built = []
    monkeypatch.setattr(
        seqtune.tiny_model,
        "build_tiny_instructblip",
        lambda folder, texts, spec: built.append((Path(folder), list(texts))) or Path(folder).mkdir(),
    )
    values = _vqa_values(tmp_path)
    _run(values)
    root = tmp_path / "run"
    records = [json.loads(line) for line in (root / "augment" / "data.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in records} == {"original", "sequential"}
    assert all(Path(r["image"]).is_file() for r in records)  # train opens them as they are
    # one tiny InstructBLIP, its tokenizer trained on every text of the SIT data (captions included)
    assert [folder for folder, _ in built] == [root / "base_model"]
    assert records[1]["output"] in built[0][1]
    assert ("base", "") not in fake_stages  # not the text model's builder
    generated = [model for stage, model in fake_stages if stage == "generate"]
    assert generated == [
        str(root / "base_model"),
        str(root / "train" / "IT" / "model"),
        str(root / "train" / "SIT" / "model"),
    ]
    plan = plan_run(build(RunConfig, values))
    assert [arm.train is None for arm in plan.arms] == [True, False, False]
    assert plan.arms[0].digest == plan.base_digest  # a changed base re-evaluates the untuned arm
    assert plan.report.labels[str(root / "base_model")] == "base"


def test_an_untuned_arm_needs_a_base_model(tmp_path):
    values = _values(tmp_path, arms={"base": {"untuned": True}})
    with pytest.raises(ConfigError, match="arms.base: `untuned` needs an arm that trains on the tiny base"):
        plan_run(build(RunConfig, values))
    values = _values(tmp_path, arms={"base": {"untuned": True}, "IT": {"data": "original"}})
    values["train"]["model"] = "org/some-model"
    assert plan_run(build(RunConfig, values)).arms[0].model == "org/some-model"
    with pytest.raises(ConfigError, match=r"arms.base: give `data` .*, `model` or `untuned: true`"):
        build(RunConfig, _values(tmp_path, arms={"base": {"untuned": "yes"}}))


# ---- Seq-Instruct as a data source of the arms (issue 10) ----


def _seqinstruct_reply(messages: list[dict]) -> str:
    """A model that keeps every instruction (classifier) and answers every question (responder)."""
    text = messages[-1]["content"]
    return "Reasoning: it is fine as it is.\nOption: D" if "Option: <letter>" in text else "Paris."


def test_arms_train_on_the_seqinstruct_stage_outputs_and_a_rerun_asks_nothing(
    tmp_path, fake_stages, monkeypatch
):
    import seqtune.train.pipeline
    from fake_openai import FakeOpenAI

    trained: dict[str, str] = {}

    def train(config):
        trained[Path(config.output_dir).name] = config.data
        (Path(config.output_dir) / "model").mkdir(parents=True, exist_ok=True)
        return Path(config.output_dir)

    monkeypatch.setattr(seqtune.train.pipeline, "run_train", train)
    data = tmp_path / "inputs" / "instructions.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text(
        '{"instruction": "Name the capital of France.", "input": "", "output": "Paris"}\n', encoding="utf-8"
    )
    with FakeOpenAI(answer=_seqinstruct_reply) as server:
        values = _values(
            tmp_path,
            augment={},
            arms={"IT": {"data": "seqinstruct-it"}, "SeqInstruct": {"data": "seqinstruct"}},
            seqinstruct={
                "inputs": [str(data)],
                "backend": "openai",
                "model": "fake",
                "base_url": server.base_url,
                "rounds": 1,
            },
        )
        _run(values)
        asked = server.received
        root = tmp_path / "run"
        assert trained == {
            "IT": str(root / "seqinstruct" / "it.jsonl"),
            "SeqInstruct": str(root / "seqinstruct" / "data.jsonl"),
        }
        assert all(Path(path).is_file() for path in trained.values())
        assert not (root / "augment").exists()  # no arm needs augment's data
        records = [
            json.loads(line) for line in (root / "seqinstruct" / "data.jsonl").read_text().splitlines()
        ]
        assert [(r["instruction"], r["output"]) for r in records] == [
            ("Name the capital of France.", "Paris.")
        ]
        # the tiny base's tokenizer learns from the Seq-Instruct data when there is no augmented data
        assert plan_run(build(RunConfig, values)).tiny_base.data == str(root / "seqinstruct" / "data.jsonl")
        trained.clear()
        _run(values)
        assert server.received == asked and trained == {}  # finished stages are skipped, nothing asked again
        values["seqinstruct"]["rounds"] = 2
        _run(values)
        assert set(trained) == {"IT", "SeqInstruct"}  # new data, new models


def test_a_seqinstruct_arm_without_its_section_fails_before_anything_runs(tmp_path, fake_stages):
    values = _values(tmp_path, arms={"SeqInstruct": {"data": "seqinstruct"}})
    with pytest.raises(ConfigError, match="seqinstruct"):
        _run(values)
    assert fake_stages == [] and not (tmp_path / "run").exists()


def test_the_judge_stage_compares_every_arm_with_the_it_arm_on_seqeval(tmp_path, fake_stages, monkeypatch):
    import seqtune.generate.pipeline
    from fake_openai import FakeOpenAI
    from seqtune.tasks import TASKS

    items = [
        {"instruction": "Name a planet, then describe its atmosphere.", "iteration": 1},
        {"instruction": "List two fruits, then say which is sweeter.", "iteration": 2},
    ]
    data = tmp_path / "inputs" / "seqEval.json"
    data.parent.mkdir(parents=True)
    data.write_text(json.dumps(items), encoding="utf-8")

    def generate(config):  # what generate writes for the seqeval task, the response naming the model
        task = TASKS.get("seqeval")()
        lines = []
        for example in task.load(config.data):
            spec = task.build_prompt(example, "plain")
            record = {"id": example.id, "task": "seqeval", "variant": "plain", "prompt": spec.instruction}
            record |= {"response": f"answer of {config.model}", "model": config.model, "adapter": None}
            lines.append(
                json.dumps({**record, "decoding": {}, **task.prediction_fields(example, spec)}) + "\n"
            )
        (Path(config.output) / "predictions.jsonl").write_text("".join(lines), encoding="utf-8")

    monkeypatch.setattr(seqtune.generate.pipeline, "run_generate", generate)

    def reply(messages):
        return "[[A]]" if "[Output (a)]" in messages[-1]["content"] else "Following: yes\nScore: 4"

    with FakeOpenAI(answer=reply) as server:
        values = _values(
            tmp_path,
            augment={},
            arms={"SIT": {"model": "sit-model"}, "IT": {"model": "it-model"}},
            eval=[{"task": "seqeval", "data": str(data)}],
            judge={"backend": "openai", "model": "judge", "base_url": server.base_url},
        )
        _run(values)
        asked = server.received
        summary = json.loads((tmp_path / "run" / "judge" / "judge_summary.json").read_text(encoding="utf-8"))
        pairs = [(p["a"]["model"], p["b"]["model"], p["pairs"], p["ties"]) for p in summary["pairwise"]]
        assert pairs == [("sit-model", "it-model", 2, 2)]  # a judge that always picks the first: ties
        assert sorted(s["model"] for s in summary["per_response"]) == ["it-model", "sit-model"]
        assert asked == 2 * 2 + 2 * 2  # 2 arms × 2 responses, and 2 pairs × 2 orders
        plan = plan_run(build(RunConfig, values))
        assert str(tmp_path / "run" / "judge") in plan.report.runs
        _run(values)
        assert server.received == asked  # judged once


def test_a_judge_needs_seqeval_responses_and_a_known_baseline(tmp_path):
    values = _values(tmp_path, judge={"model": "judge"})
    with pytest.raises(ConfigError, match="judge: needs an eval entry with task seqeval"):
        plan_run(build(RunConfig, values))
    values = _values(
        tmp_path,
        eval=[{"task": "seqeval", "data": str(tmp_path)}],
        judge={"model": "judge", "baseline": "Base"},
    )
    with pytest.raises(ConfigError, match="judge.baseline: 'Base' is not an arm"):
        plan_run(build(RunConfig, values))


def test_the_judge_baseline_reaches_the_report_and_its_prompt_files_content_the_digest(tmp_path):
    prompt = tmp_path / "single.json"
    prompt.write_text(
        json.dumps({"system": "Judge.", "user": "{instruction}\n{response}\nFollowing? Score?"}),
        encoding="utf-8",
    )
    values = _values(
        tmp_path,
        augment={},
        arms={"Base": {"model": "base-model"}, "SIT": {"model": "sit-model"}},
        eval=[{"task": "seqeval", "data": str(tmp_path)}],
        judge={"model": "judge", "baseline": "Base", "single_prompt": str(prompt)},
    )
    plan = plan_run(build(RunConfig, values))
    assert plan.report.arm_roles["seqeval_baseline"] == ["Base"]
    assert plan.judge.baseline == str(tmp_path / "run" / "eval" / "Base" / "seqeval")
    prompt.write_text(prompt.read_text(encoding="utf-8").replace("Judge.", "Judge fairly."), encoding="utf-8")
    assert plan_run(build(RunConfig, values)).judge_digest != plan.judge_digest  # a new prompt judges again
    prompt.unlink()
    with pytest.raises(ConfigError, match="cannot read the judge prompt"):  # found before anything runs
        plan_run(build(RunConfig, values))


def test_a_tiny_base_for_arms_on_their_own_files_learns_its_tokenizer_from_them(tmp_path):
    data = _values(tmp_path)["augment"]["inputs"][0]
    values = _values(tmp_path, augment={}, arms={"A": {"data": data}})
    plan = plan_run(build(RunConfig, values))
    assert plan.augment is None and plan.tiny_base.data == values["arms"]["A"]["data"]
