"""seqtune train on a tiny local InstructBLIP (TinyBlipSpec's ViT and Q-Former, a Llama of hidden 32 and 1 layer)
and ShapeWorld images: Q-Former-only training, loss on the response only, trainable-only saving and reloading,
the best checkpoint, exact resume after SIGKILL, two processes, config errors and the 7B preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SRC
from seqtune.cli import main
from seqtune.config import build, load_yaml
from seqtune.errors import ConfigError
from seqtune.records import write_jsonl
from seqtune.train.config import TrainConfig
from seqtune.train.data import IGNORE_INDEX

FROZEN = ("vision_model.", "language_model.")
TRAINED = ("qformer.", "query_tokens", "language_projection.")
PRESET = REPO / "configs" / "paper" / "train" / "instructblip-vicuna-7b.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """ShapeWorld (8 training images, 22 SIT records) and its records as train.jsonl, with COCO-relative images."""
    from seqtune.data.vqa import instruction_records, read_captions, read_vqav2
    from seqtune.shapeworld import build_shapeworld

    out = tmp_path_factory.mktemp("shapeworld")
    build_shapeworld(out, train_images=8, val_images=1)
    captions = read_captions(out / "captions" / "captions_train2014.json")
    _, sit, _ = instruction_records(read_vqav2(out / "vqav2_train"), captions, seed=0)
    write_jsonl(out / "train.jsonl", sit)
    return out


@pytest.fixture(scope="module")
def base(torch, world, tmp_path_factory) -> Path:
    """A tiny InstructBLIP whose language model (a tiny Llama with weights of std 0.5, not 0.02) reacts to its
    inputs, so that the Q-Former's output moves the loss visibly (it does not with a near-uniform random LM)."""
    from transformers import AutoModelForCausalLM

    from seqtune.prompts import get_template
    from seqtune.records import iter_json_records
    from seqtune.tiny_model import TinyBlipSpec, TinySpec, build_tiny_instructblip, build_tiny_model

    template = get_template("alpaca")
    texts = [template.prompt_input, template.prompt_no_input]
    for _, record in iter_json_records(world / "train.jsonl"):
        texts += [record["instruction"], record["input"], record["output"]]
    folder = tmp_path_factory.mktemp("tiny")
    text = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    language_model = build_tiny_model(folder / "llama", texts, text)
    model = AutoModelForCausalLM.from_pretrained(language_model)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    model.save_pretrained(language_model)
    return build_tiny_instructblip(
        folder / "instructblip", [], TinyBlipSpec(language_model=str(language_model))
    )


def config(base, world, output_dir, **overrides) -> TrainConfig:
    values = dict(
        data=str(world / "train.jsonl"),
        image_root=str(world / "images"),
        output_dir=str(output_dir),
        model=str(base),
        finetune="qformer",
        learning_rate=1e-2,
        warmup_steps=0,
        global_batch_size=4,
        micro_batch_size=2,
        epochs=1,
        dev_size=4,
        eval_steps=2,
        logging_steps=1,
        report_to="none",
        seed=0,
    )
    values.update(overrides)
    return build(TrainConfig, values)


def _state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


# ---- the tiny model ----


def test_tiny_instructblip_wraps_the_given_language_model(torch, base):
    base_state = _state(base / "model.safetensors")
    language_model = _state(base.parent / "llama" / "model.safetensors")
    image_token = base_image_token(base)
    assert image_token == len(language_model["model.embed_tokens.weight"])  # one token added: <image>
    for name, tensor in language_model.items():
        ours = base_state[f"language_model.{name}"]
        assert torch.equal(ours[:image_token] if "embed_tokens" in name else ours, tensor), name


# ---- which weights train ----


def test_qformer_only_trains_the_qformer_query_tokens_and_projection(torch, base, world, tmp_path):
    from seqtune.train.pipeline import prepare

    run = prepare(config(base, world, tmp_path / "out", keep_best=False))
    model = run.trainer.model
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained == {name for name, _ in model.named_parameters() if name.startswith(TRAINED)}
    assert {name.split(".")[0] for name in trained} == {"qformer", "query_tokens", "language_projection"}

    run.trainer.train()
    before = _state(base / "model.safetensors")
    after = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    frozen = [name for name in before if name.startswith(FROZEN)]  # lm_head is tied to the embeddings
    assert len(frozen) > 20
    for name in frozen:  # byte-identical: frozen, and never cast or rounded
        assert after[name].dtype == before[name].dtype and torch.equal(after[name], before[name]), name
    changed = {name.split(".")[0] for name in trained if not torch.equal(after[name], before[name])}
    assert changed == {"qformer", "query_tokens", "language_projection"}
    unchanged = {name for name in trained if torch.equal(after[name], before[name])}
    # the one exception: the feed-forward block of the instruction-text tokens in the Q-Former's last layer, whose
    # output no query reads (only the query outputs reach the language model), so it gets no gradient
    last_text_ffn = ("qformer.encoder.layer.0.intermediate.", "qformer.encoder.layer.0.output.")
    assert unchanged == {name for name in trained if name.startswith(last_text_ffn)}


# ---- the loss is on the response only ----


def test_labels_mask_the_image_tokens_and_the_prompt_and_match_the_processor(torch, base, world, tmp_path):
    from PIL import Image

    from seqtune.train.instructblip import ImageCollator
    from seqtune.train.pipeline import prepare

    run = prepare(config(base, world, tmp_path / "out", cutoff_len=10_000))
    processor, tokenizer = run.processing, run.processing.tokenizer
    examples = run.family.read_examples(run.config.data, run.config, run.template, processor, run.policy)
    split = run.family.tokenize(examples, processor, run.config, run.template)
    assert len(split) == len(examples) == 22
    for example, input_ids, labels in zip(examples, split.input_ids, split.labels, strict=True):
        with Image.open(example.image) as image:
            prompt_ids = processor(images=image.convert("RGB"), text=example.prompt)["input_ids"][0]
        # training sees exactly what generation gives the model: <image> x 4, BOS, the prompt
        assert input_ids[: len(prompt_ids)] == prompt_ids
        assert prompt_ids[:4] == [base_image_token(base)] * 4
        assert all(label == IGNORE_INDEX for label in labels[: len(prompt_ids)])
        scored = labels[len(prompt_ids) :]
        assert scored == input_ids[len(prompt_ids) :]
        assert tokenizer.decode(scored) == example.completion + tokenizer.eos_token

    batch = ImageCollator(processor)([run.trainer.train_dataset[i] for i in range(3)])
    model = run.trainer.model.eval()
    with torch.no_grad():
        loss = model(**batch).loss
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    # the loss is the mean cross-entropy of the response tokens (and EOS) only: recomputed by hand
    shifted, targets = logits[:, :-1], batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    by_hand = torch.nn.functional.cross_entropy(shifted[keep], targets[keep])
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert keep.sum() < (batch["attention_mask"][:, 1:] == 1).sum() / 2  # most positions are prompt or image


def base_image_token(base: Path) -> int:
    return json.loads((base / "config.json").read_text())["image_token_index"]


# ---- what is saved, and reloading it ----


def test_only_trainable_weights_are_saved_and_the_model_reloads_with_the_best_checkpoint(
    torch, base, world, tmp_path
):
    from seqtune.train.instructblip import load_trained

    out = tmp_path / "out"
    # a large learning rate overshoots after a few steps: the best checkpoint is not the last one
    args = [*_args(base, world), f"output_dir={out}", "epochs=2", "save_total_limit=10", "learning_rate=0.03"]
    assert main(["-q", "train", *args]) == 0
    model_dir = out / "model"
    names = sorted(p.name for p in model_dir.iterdir())
    assert (
        "model.safetensors" not in names
    )  # from_pretrained on model/ fails instead of loading random weights
    assert {"trainable.safetensors", "config.json", "seqtune_model.json", "prompt_template.json"} <= set(
        names
    )
    assert {"tokenizer.json", "processor_config.json", "qformer_tokenizer"} <= set(names)
    saved = _state(model_dir / "trainable.safetensors")
    assert saved and all(name.startswith(TRAINED) for name in saved)
    base_state = _state(base / "model.safetensors")
    assert set(saved) == {n for n in base_state if n.startswith(TRAINED)}
    for checkpoint in (out / "checkpoints").glob("checkpoint-*"):
        assert set(_state(checkpoint / "model.safetensors")) == set(saved)

    # keep_best: model/ holds the checkpoint with the lowest dev loss
    manifest = json.loads((out / "manifest.json").read_text())["training"]
    history = json.loads((out / "log_history.json").read_text())
    dev = {e["step"]: e["eval_loss"] for e in history if "eval_loss" in e}
    best_step = min(dev, key=dev.get)
    assert manifest["best_checkpoint"] == f"checkpoint-{best_step}"
    assert best_step != max(dev), "the test needs a best checkpoint that is not the last"
    best = _state(out / "checkpoints" / f"checkpoint-{best_step}" / "model.safetensors")
    assert all(torch.equal(saved[name], best[name]) for name in saved)

    with pytest.raises(ConfigError, match="only the trained weights"):  # not a base for another run
        config(base, world, tmp_path / "next", model=str(model_dir)).check_paths()

    model, processor = load_trained(model_dir)
    state = model.state_dict()
    # every weight is the trained one or the base's (lm_head, tied to the embeddings, is in neither file)
    for name, expected in {**base_state, **saved}.items():
        assert torch.equal(state[name], expected), name
    prompt = "What colour is the circle?"
    from PIL import Image

    image = Image.open(next((world / "images" / "train2014").iterdir())).convert("RGB")
    generated = model.generate(**processor(images=image, text=prompt, return_tensors="pt"), max_new_tokens=3)
    assert generated.shape[0] == 1


def _args(base: Path, world: Path) -> list[str]:
    return [
        f"data={world / 'train.jsonl'}",
        f"image_root={world / 'images'}",
        f"model={base}",
        "finetune=qformer",
        "learning_rate=1e-2",
        "warmup_steps=0",
        "global_batch_size=4",
        "micro_batch_size=2",
        "dev_size=4",
        "eval_steps=2",
        "logging_steps=1",
        "report_to=none",
        "seed=0",
    ]


def test_full_finetuning_trains_everything_and_saves_a_whole_model(torch, base, world, tmp_path):
    """`finetune: full` (e.g. to give the tiny InstructBLIP its pretraining before a Q-Former run) writes a model
    that from_pretrained loads, so that it can be the base of the next run."""
    from transformers import InstructBlipForConditionalGeneration

    out = tmp_path / "out"
    assert (
        main(["-q", "train", *_args(base, world), f"output_dir={out}", "finetune=full", "keep_best=false"])
        == 0
    )
    assert not (out / "model" / "trainable.safetensors").exists()
    trained = InstructBlipForConditionalGeneration.from_pretrained(out / "model").state_dict()
    before = _state(base / "model.safetensors")
    for group in ("vision_model.", "language_model.", "qformer.", "query_tokens", "language_projection."):
        assert any(not torch.equal(trained[n], before[n]) for n in before if n.startswith(group)), group
    qformer_run = config(base, world, tmp_path / "next", model=str(out / "model"))
    assert qformer_run.family() == "instructblip"


# ---- resume and two processes ----


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_sigkill_then_resume_gives_the_same_weights(base, world, tmp_path, processes):
    """18 training records, 4 per step: 5 steps per epoch; checkpoint-6 lies inside epoch 2. Two processes run
    the same command under torchrun (gloo on the CPU), batches sharded by accelerate."""
    from test_train import _KILL_AFTER_CHECKPOINT, _free_port, _sha256

    args = ["-q", "train", *_args(base, world), "epochs=2", "keep_best=false", "save_total_limit=10"]
    if processes == 2:
        args.append("micro_batch_size=1")
    launch = [sys.executable]
    if processes > 1:
        launch += [
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            f"--master_port={_free_port()}",
        ]
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    done = subprocess.run(
        [*launch, "-m", "seqtune.cli", *args, f"output_dir={reference}"], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    training = json.loads((reference / "manifest.json").read_text())["training"]
    assert training["processes"] == processes and training["global_batch_size"] == 4

    script = tmp_path / "kill_after_checkpoint.py"
    script.write_text(_KILL_AFTER_CHECKPOINT, encoding="utf-8")
    killed = subprocess.run(
        [*launch, str(script), *args, f"output_dir={interrupted}"],
        env=dict(env, KILL_AFTER_CHECKPOINT="6"),
        capture_output=True,
    )
    assert killed.returncode != 0
    assert not (interrupted / "model").exists()
    resumed = subprocess.run(
        [*launch, "-m", "seqtune.cli", *args, f"output_dir={interrupted}", "resume=true"],
        env=env,
        capture_output=True,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    weights = Path("model") / "trainable.safetensors"
    assert _sha256(interrupted / weights) == _sha256(reference / weights)


# ---- config and input errors ----


def test_family_and_finetune_must_agree(base, world, tmp_path):
    assert config(base, world, tmp_path).family() == "instructblip"  # from config.json's model_type
    with pytest.raises(ConfigError, match="finetune=lora does not apply to model_family=instructblip"):
        config(base, world, tmp_path, finetune="lora")
    with pytest.raises(ConfigError, match="finetune=qformer does not apply to model_family=causal_lm"):
        build(TrainConfig, {"data": "x", "output_dir": "y", "model": "tiny", "finetune": "qformer"})
    with pytest.raises(ConfigError, match="padding_free"):
        config(base, world, tmp_path, batching="padding_free")
    assert build(
        TrainConfig, {"data": "x", "output_dir": "y", "model": "tiny-instructblip", "finetune": "qformer"}
    )


def test_a_missing_image_is_one_line_naming_the_file_and_record(torch, base, world, tmp_path, capsys):
    records = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()]
    records[2]["image"] = "train2014/missing.jpg"
    data = tmp_path / "bad.jsonl"
    write_jsonl(data, records)
    args = [a for a in _args(base, world) if not a.startswith("data=")]
    assert main(["-q", "train", *args, f"data={data}", f"output_dir={tmp_path / 'out'}"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"seqtune: error: {data}:line 3: image not found: ") and "missing.jpg" in error
    assert "\n" not in error
    assert not (tmp_path / "out").exists()


def test_the_7b_preset_is_the_papers_setting(tmp_path):
    values = load_yaml(PRESET)
    cfg = build(TrainConfig, {**values, "data": "sit.jsonl", "output_dir": str(tmp_path)})
    assert cfg.family() == "instructblip" and cfg.finetune == "qformer"
    assert (cfg.learning_rate, cfg.epochs) == (1e-5, 3)  # the SIT paper
    # InstructBLIP's: batch 128 for 7B, cosine after 1,000 warm-up steps, weight decay 0.05
    assert (cfg.global_batch_size, cfg.lr_scheduler, cfg.warmup_steps, cfg.weight_decay) == (
        128,
        "cosine",
        1000,
        0.05,
    )
    text = PRESET.read_text(encoding="utf-8")
    assert text.count("[IB]") >= 4 and "[LAVIS]" in text
