"""seqtune train on a tiny local Llama (hidden 32, 1 layer): masking, padding-free batches, LoRA, best checkpoint,
exact resume after SIGKILL, 2 processes, long records, file modes, failures, and every shipped YAML.

Tests that need torch ask for the `torch` or `tiny_model` fixture (conftest.py); the rest run without it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DEV_DATA as DEV
from conftest import REPO, SRC
from conftest import TRAIN_DATA as TRAIN
from seqtune.cli import main
from seqtune.config import build, load_yaml
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.layout import locked
from seqtune.prompts import get_template
from seqtune.records import ErrorPolicy, usual_mode, write_jsonl
from seqtune.train.config import TrainConfig
from seqtune.train.data import IGNORE_INDEX, build_example, read_pairs, tokenize_pairs


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def config(tiny_model, output_dir, **overrides) -> TrainConfig:
    values = dict(
        data=str(TRAIN),
        output_dir=str(output_dir),
        model=str(tiny_model),
        finetune="full",
        cutoff_len=512,
        learning_rate=3e-3,
        warmup_steps=0,
        global_batch_size=8,
        micro_batch_size=4,
        epochs=1,
        dev_data=str(DEV),
        eval_steps=3,
        logging_steps=1,
        report_to="none",
        seed=0,
    )
    values.update(overrides)
    return build(TrainConfig, values)


# ---- the one place that masks labels ----


def test_masked_labels_are_exactly_the_prompt_tokens(tokenizer):
    template = get_template("alpaca")
    pairs = read_pairs(TRAIN, template, tokenizer, ErrorPolicy())
    split = tokenize_pairs(
        pairs, tokenizer, cutoff_len=10_000, train_on_inputs=False, add_special_tokens=True
    )
    assert len(split) == len(pairs) == 48
    for pair, input_ids, labels in zip(pairs, split.input_ids, split.labels, strict=True):
        prompt_ids = tokenizer(pair.prompt)["input_ids"]
        completion_ids = tokenizer(pair.completion, add_special_tokens=False)["input_ids"]
        assert input_ids == prompt_ids + completion_ids + [tokenizer.eos_token_id]
        for position, (token, label) in enumerate(zip(input_ids, labels, strict=True)):
            if position < len(prompt_ids):
                assert label == IGNORE_INDEX, position
            else:
                assert label == token, position
        assert tokenizer.decode(input_ids[: len(prompt_ids)]) == pair.prompt


def test_train_on_inputs_scores_every_token_and_eos_is_appended(tokenizer):
    pairs = read_pairs(TRAIN, get_template("alpaca"), tokenizer, ErrorPolicy())[:5]
    split = tokenize_pairs(pairs, tokenizer, cutoff_len=10_000, train_on_inputs=True, add_special_tokens=True)
    assert split.labels == split.input_ids
    assert all(ids[-1] == tokenizer.eos_token_id for ids in split.input_ids)


def test_cutoff_keeps_the_start_and_drops_examples_without_completion_tokens():
    assert build_example([1, 2, 3], [4, 5, 6], 9, cutoff_len=5, train_on_inputs=False) == (
        [1, 2, 3, 4, 5],
        [IGNORE_INDEX] * 3 + [4, 5],
    )
    assert build_example([1, 2, 3], [4], 9, cutoff_len=3, train_on_inputs=False) is None
    assert build_example([1, 2, 3], [4], 9, cutoff_len=3, train_on_inputs=True) is None


def test_bad_record_names_file_line_and_field(tmp_path, tokenizer):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a"}\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"bad.jsonl:line 2: field 'output'"):
        read_pairs(bad, get_template("alpaca"), tokenizer, ErrorPolicy())
    policy = ErrorPolicy("skip")
    assert len(read_pairs(bad, get_template("alpaca"), tokenizer, policy)) == 1
    assert policy.skipped == {"missing_field": 1}


class _RecordingTokenizer:
    """Wraps a tokenizer and notes the longest text it was given."""

    def __init__(self, tokenizer):
        self.tokenizer, self.longest = tokenizer, 0
        self.eos_token_id = tokenizer.eos_token_id

    def __call__(self, texts, **kwargs):
        self.longest = max([self.longest, *map(len, [texts] if isinstance(texts, str) else texts)])
        return self.tokenizer(texts, **kwargs)


def test_a_huge_record_is_tokenized_from_a_prefix_with_the_same_result(tokenizer):
    from seqtune.train.data import PromptCompletion

    words = " ".join(f"word{i % 97} delta" for i in range(200_000))  # 2.4 MB
    pairs = [PromptCompletion("Summarize:\n" + words, "ok"), PromptCompletion("Repeat.\n", words)]
    recording = _RecordingTokenizer(tokenizer)
    cut = tokenize_pairs(pairs, recording, cutoff_len=64, train_on_inputs=False, add_special_tokens=True)
    assert recording.longest < 10_000  # not the 2.4 MB: memory stays that of a short record
    whole = tokenizer(pairs[1].prompt)["input_ids"] + tokenizer(words, add_special_tokens=False)["input_ids"]
    assert cut.input_ids == [whole[:64]]  # the first example's prompt reaches the cutoff: dropped
    assert cut.dropped == {"prompt_reaches_cutoff": 1}


@pytest.mark.parametrize(
    "text",
    # " following" is one token of 10 characters: more than CHARS_PER_TOKEN, so the first prefix is too short
    [
        " following" * 5_000,
        "a" * 50_000,
        " " * 50_000,
        "xyz" * 20_000,
        "中文字符" * 10_000,
        ("word " * 3 + "\n") * 5_000,
    ],
    ids=["long-tokens", "one-letter", "spaces", "no-spaces", "cjk", "lines"],
)
def test_tokens_from_a_prefix_equal_the_whole_texts_tokens(tokenizer, text):
    from seqtune.train.data import leading_token_ids

    needed = 100
    whole = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert leading_token_ids(tokenizer, [text], needed, False)[0][:needed] == whole[:needed]


# ---- padding-free / packed batches ----


def _loss(model, batch) -> float:
    import torch

    keys = ("input_ids", "labels", "attention_mask", "position_ids")
    with (
        torch.no_grad()
    ):  # no KV cache, as in training (TRL passes use_cache=False): a cache hides the packing
        return model(**{k: v for k, v in batch.items() if k in keys}, use_cache=False).loss.item()


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_padded_padding_free_and_packed_batches_give_the_same_loss(torch, tiny_model, tokenizer, attention):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # larger random weights than the 0.02 init, so that attention is far from uniform
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    pairs = read_pairs(TRAIN, get_template("alpaca"), tokenizer, ErrorPolicy())[:6]
    split = tokenize_pairs(pairs, tokenizer, cutoff_len=512, train_on_inputs=False, add_special_tokens=True)
    examples = [{"input_ids": i, "labels": lab} for i, lab in zip(split.input_ids, split.labels, strict=True)]
    pad_id = tokenizer.pad_token_id

    padded = _loss(model, DataCollatorForLanguageModeling(pad_token_id=pad_id)(examples))
    padding_free_batch = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)(examples)
    padding_free = _loss(model, padding_free_batch)
    packed_rows = pack_dataset(Dataset.from_list(examples), seq_length=512, strategy="bfd")
    assert len(packed_rows) < len(examples)  # several examples really share a row
    packed = _loss(
        model, DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)(list(packed_rows))
    )

    assert padding_free == pytest.approx(padded, abs=1e-5)
    assert packed == pytest.approx(padded, abs=1e-5)
    # the check can fail: the same flattened row without restarting positions attends across examples
    leaky = dict(
        padding_free_batch, position_ids=torch.arange(padding_free_batch["input_ids"].shape[1])[None]
    )
    assert abs(_loss(model, leaky) - padded) > 1e-3


def test_trainer_eval_loss_is_the_same_for_every_batching(tiny_model, tmp_path):
    from seqtune.train.pipeline import prepare

    losses = {}
    # one eval batch each, so that the three average the same tokens (the trainer averages per batch)
    for batching in ("padded", "padding_free", "packed", "grouped"):
        cfg = config(
            tiny_model,
            tmp_path / batching,
            batching=batching,
            cutoff_len=512,
            micro_batch_size=16,
            global_batch_size=16,
        )
        losses[batching] = prepare(cfg).trainer.evaluate()["eval_loss"]
    assert losses["padding_free"] == pytest.approx(losses["padded"], abs=1e-5)
    assert losses["packed"] == pytest.approx(losses["padded"], abs=1e-5)
    assert losses["grouped"] == pytest.approx(losses["padded"], abs=1e-5)


def test_auto_batching_is_padding_free_only_with_flash_attention(tiny_model, tmp_path):
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from seqtune.train.pipeline import prepare
    from seqtune.train.presets import resolve_batching

    assert resolve_batching("auto", "flash_attention_2") == "padding_free"
    assert resolve_batching("auto", "sdpa") == "grouped"
    assert resolve_batching("packed", "sdpa") == "packed"
    run = prepare(config(tiny_model, tmp_path / "auto", batching="auto"))
    assert run.config.batching == "grouped"  # on the CPU: sdpa
    assert isinstance(run.trainer._get_train_sampler(), LengthGroupedSampler)
    padded = prepare(config(tiny_model, tmp_path / "padded", batching="padded"))
    assert not isinstance(padded.trainer._get_train_sampler(), LengthGroupedSampler)


def test_length_grouped_order_depends_on_the_epoch_only(torch, tiny_model, tmp_path):
    """The order of an epoch must not depend on the global RNG: a run resumed inside a later epoch reaches the
    start of that epoch with another RNG state than the uninterrupted run."""
    from seqtune.train.pipeline import prepare

    sampler = prepare(config(tiny_model, tmp_path, batching="grouped")).trainer._get_train_sampler()

    def order(epoch: int, global_seed: int) -> list[int]:
        torch.manual_seed(global_seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(1, global_seed=0) == order(1, global_seed=1)
    assert order(1, global_seed=0) != order(2, global_seed=0)  # still shuffled anew every epoch
    assert sorted(order(2, global_seed=0)) == list(range(48))


# ---- full training runs ----


@pytest.mark.slow
def test_full_finetune_loss_decreases_and_writes_the_output_folder(tiny_model, tmp_path):
    out = tmp_path / "run"
    cfg = config(tiny_model, out, epochs=4, eval_steps=100, keep_best=False, dev_data=None, dev_size=0)
    from seqtune.train.pipeline import run_train

    assert run_train(cfg) == out
    history = json.loads((out / "log_history.json").read_text())
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 24  # 48 examples / 8 per step × 4 epochs
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    for name in ("config.json", "model.safetensors", "tokenizer.json", "prompt_template.json", "README.md"):
        assert (out / "model" / name).is_file(), name
    assert get_template(str(out / "model" / "prompt_template.json")) == get_template("alpaca")
    assert build(TrainConfig, load_yaml(out / "config.yaml")) == cfg
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] == 48
    assert manifest["training"]["global_step"] == 24
    assert str(TRAIN) in manifest["inputs"]


def test_existing_checkpoints_need_resume(torch, tmp_path):
    from seqtune.train.pipeline import run_train

    (tmp_path / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    with pytest.raises(ConfigError, match="resume=true"):
        run_train(config("tiny", tmp_path))
    assert (tmp_path / "checkpoints" / "checkpoint-3").is_dir()  # a refusal removes nothing


@pytest.mark.slow
def test_lora_changes_only_adapters_and_restores_the_best_checkpoint(torch, tiny_model, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from seqtune.train.pipeline import _write_outputs, prepare

    # a high learning rate on few examples overfits: the dev loss rises after its first evaluation,
    # so the best checkpoint is not the last one
    cfg = config(
        tiny_model, tmp_path, finetune="lora", learning_rate=0.05, epochs=3, lora_r=8, lora_dropout=0.0
    )
    run = prepare(cfg)
    model = run.trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    run.trainer.train()
    after = dict(model.named_parameters())
    for name, value in before.items():
        changed = not torch.equal(value, after[name].detach())
        assert changed == (name in trainable), name  # every adapter weight moved, no base weight did
    _write_outputs(run, tmp_path, time.time())

    state = run.trainer.state
    evals = [e for e in state.log_history if "eval_loss" in e]
    best = min(evals, key=lambda e: e["eval_loss"])
    assert state.best_model_checkpoint.endswith(f"checkpoint-{best['step']}")
    assert best["step"] != state.global_step  # the check is about a restore, not the last weights

    adapter = json.loads((tmp_path / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_model)
    assert sorted(adapter["target_modules"]) == ["k_proj", "q_proj", "v_proj"]
    saved = load_file(tmp_path / "model" / "adapter_model.safetensors")
    best_saved = load_file(Path(state.best_model_checkpoint) / "adapter_model.safetensors")
    assert saved and any("lora_B" in k and v.abs().sum() > 0 for k, v in saved.items())  # not empty
    assert saved.keys() == best_saved.keys() and all(torch.equal(saved[k], best_saved[k]) for k in saved)

    ids = torch.tensor([run.train.input_ids[0]])
    model.eval()
    with torch.no_grad():
        in_memory = model(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model)
        base_logits = base(input_ids=ids).logits
        reloaded = PeftModel.from_pretrained(base, tmp_path / "model").eval()(input_ids=ids).logits
    assert torch.equal(reloaded, in_memory)
    assert not torch.allclose(reloaded, base_logits)


def test_lora_targets_by_architecture_and_a_clear_error(torch):
    from transformers import BloomConfig, BloomForCausalLM, GPT2Config, GPT2LMHeadModel

    from seqtune.train.presets import lora_targets

    bloom = BloomForCausalLM(BloomConfig(vocab_size=64, hidden_size=16, n_layer=1, n_head=2))
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32))
    assert lora_targets(bloom, []) == ["query_key_value"]
    assert lora_targets(gpt2, []) == ["c_attn"]
    with pytest.raises(ConfigError, match="q_proj.*not found in model type 'bloom'.*query_key_value"):
        lora_targets(bloom, ["q_proj"])


def test_batch_arithmetic_and_config_errors(tmp_path):
    from seqtune.train.presets import accumulation_steps

    assert accumulation_steps(128, 4, 1) == 32
    assert accumulation_steps(128, 4, 8) == 4
    with pytest.raises(ConfigError, match="micro_batch_size × processes"):
        accumulation_steps(128, 4, 3)
    with pytest.raises(ConfigError, match="multiple of micro_batch_size"):
        config("tiny", tmp_path, global_batch_size=10, micro_batch_size=4)
    with pytest.raises(ConfigError, match="keep_best needs a dev split"):
        config("tiny", tmp_path, dev_data=None, dev_size=0)
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        config("tiny", tmp_path, learning_rte=1.0)


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_every_saved_file_gets_the_usual_mode_and_no_staging_folder_is_left(torch, tmp_path):
    from seqtune.train.pipeline import run_train

    out = tmp_path / "run"
    (out / ".model.k1lled00").mkdir(parents=True)  # the staging folder of a run killed while it saved
    tiny = dict(tiny_hidden_size=16, tiny_layers=1, tiny_vocab_size=300, max_steps=2, eval_steps=1)
    run_train(config("tiny", out, dev_data=None, dev_size=0, keep_best=False, **tiny))
    assert not (out / ".model.k1lled00").exists()
    assert {"model/model.safetensors", "base_model/model.safetensors"} <= set(_modes(out))
    assert "checkpoints/checkpoint-2/model.safetensors" in _modes(out)
    wrong = {
        name: oct(mode)
        for name, mode in _modes(out).items()
        if mode != usual_mode(directory=(out / name).is_dir())
    }
    assert wrong == {}


def _no_example_left(tmp_path) -> Path:
    data = tmp_path / "long_prompts.jsonl"
    write_jsonl(data, [{"instruction": "word " * 40, "input": "", "output": "x"}] * 4)
    return data


def test_a_failed_run_leaves_no_folder_behind(torch, tmp_path):
    from seqtune.train.pipeline import run_train

    tiny = dict(tiny_hidden_size=16, tiny_layers=1, tiny_vocab_size=300, dev_data=None, dev_size=0)
    out = tmp_path / "fresh"
    cfg = config("tiny", out, data=str(_no_example_left(tmp_path)), cutoff_len=16, keep_best=False, **tiny)
    with pytest.raises(ConfigError, match="no training example left"):
        run_train(cfg)  # after the tiny base model was built in out/base_model
    assert not out.exists()

    kept = tmp_path / "kept"  # a folder that existed before keeps what it held
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="no training example left"):
        run_train(build(TrainConfig, {**vars(cfg), "output_dir": str(kept)}))
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path):
    from seqtune.train.pipeline import run_train

    (tmp_path / "checkpoints" / "checkpoint-6").mkdir(parents=True)
    with locked(tmp_path, "seqtune train (the first run)"):
        with pytest.raises(
            SeqtuneError, match=r"\(seqtune train \(the first run\)\) is writing to this folder"
        ):
            run_train(config("tiny", tmp_path, resume=True))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint-6"]


def _raise(error: Exception):
    raise error


def test_a_failure_while_training_or_saving_leaves_only_what_resume_needs(
    torch, tiny_model, tmp_path, monkeypatch
):
    from seqtune.train import pipeline

    out = tmp_path / "run"
    cfg = config(tiny_model, out, max_steps=2, eval_steps=1, dev_data=None, dev_size=0, keep_best=False)
    prepare = pipeline.prepare

    def prepare_then_fail_in_training(config):
        run = prepare(config)
        run.trainer.train = lambda **kwargs: _raise(RuntimeError("out of memory"))
        return run

    monkeypatch.setattr(pipeline, "prepare", prepare_then_fail_in_training)
    with pytest.raises(RuntimeError):
        pipeline.run_train(cfg)  # the trainer had created checkpoints/, empty
    assert not out.exists()

    monkeypatch.setattr(pipeline, "prepare", prepare)
    monkeypatch.setattr(pipeline, "write_model_card", lambda *args, **kwargs: _raise(OSError("disk full")))
    with pytest.raises(OSError):
        pipeline.run_train(cfg)
    # no half-written model, no staging folder
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints"]
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]


@pytest.mark.parametrize(
    "override, message",
    [
        ("learning_rate=nan", "learning_rate: must be a finite number, got nan"),
        ("epochs=inf", "epochs: must be a finite number, got inf"),
        (
            "model={empty}",
            "model: '{empty}' holds no model to train (missing config.json, *.safetensors weights, a tokenizer)",
        ),
        ("model={file}", "model: '{file}' is a file, not a model folder"),
    ],
)
def test_bad_numbers_and_model_folders_are_one_clear_line(tmp_path, capsys, override, message):
    paths = {"empty": tmp_path / "empty", "file": TRAIN}
    paths["empty"].mkdir()
    args = ["train", f"data={TRAIN}", f"output_dir={tmp_path / 'out'}", override.format(**paths)]
    assert main(args) == 2
    assert capsys.readouterr().err == f"seqtune: error: {message.format(**paths)}\n"
    assert not (tmp_path / "out").exists()


# ---- shipped configs ----

TRAIN_PRESETS = sorted((REPO / "configs" / "paper" / "train").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAIN_PRESETS, ids=lambda p: p.name)
def test_every_train_preset_validates(path, tmp_path):
    values = load_yaml(path)
    assert "data" not in values and "output_dir" not in values  # presets are data-independent
    cfg = build(TrainConfig, {**values, "data": str(TRAIN), "output_dir": str(tmp_path)})
    assert path.read_text(encoding="utf-8").startswith("#")  # the header comment: hardware and time
    if path.stem != "tiny":
        assert cfg.global_batch_size == 128 and cfg.cutoff_len == 512 and cfg.eval_steps == 200


def test_paper_lora_presets_are_the_paper_setting():
    for name in ("llama-7b", "llama-13b", "mistral-7b", "llama-3-8b", "qwen2.5-7b"):
        values = load_yaml(REPO / "configs" / "paper" / "train" / f"{name}.yaml")
        cfg = TrainConfig(data="x", output_dir="y", **values)
        assert (cfg.finetune, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == ("lora", 8, 16, 0.05), name
        assert (cfg.learning_rate, cfg.epochs, cfg.keep_best, cfg.template) == (3e-4, 5, True, "alpaca"), name


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_every_accelerate_config_loads(torch, path):
    from accelerate.commands.config.config_args import ClusterConfig

    cluster = ClusterConfig.from_yaml_file(path)
    assert cluster.num_processes >= 2
    assert yaml.safe_load(path.read_text())["distributed_type"] == cluster.distributed_type.value


def test_presets_and_accelerate_configs_exist():
    assert {p.stem for p in TRAIN_PRESETS} >= {
        "llama-7b",
        "llama-13b",
        "mistral-7b",
        "llama-3-8b",
        "qwen2.5-7b",
        "full",
        "tiny",
    }
    assert len(ACCELERATE_CONFIGS) >= 4


# ---- resume and distributed (subprocesses) ----


# In the child (each process): SIGKILL itself right after checkpoint N is complete (callbacks included), so the kill always
# lands on the same checkpoint, however loaded the machine is.
_KILL_AFTER_CHECKPOINT = """
import os, signal, sys
from transformers.trainer_callback import CallbackHandler
from seqtune.cli import main

on_save = CallbackHandler.on_save


def on_save_then_die(self, args, state, control):
    control = on_save(self, args, state, control)
    if state.global_step == int(os.environ["KILL_AFTER_CHECKPOINT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return control


CallbackHandler.on_save = on_save_then_die
sys.exit(main(sys.argv[1:]))
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_sigkill_inside_a_later_epoch_then_resume_gives_the_same_weights(tiny_model, tmp_path, processes):
    # 48 examples, 4 per optimizer step: 12 steps per epoch; checkpoint-18 lies inside epoch 2. LoRA with dropout
    # and length-grouped batches: the data order, the sampler's epoch and the dropout RNG must all be restored.
    # Two processes: accelerate shards the batches, and skipping the trained ones takes another path.
    args = [
        "-q",
        "train",
        f"data={TRAIN}",
        f"model={tiny_model}",
        "finetune=lora",
        "lora_dropout=0.1",
        "batching=grouped",
        "learning_rate=3e-3",
        "warmup_steps=0",
        "global_batch_size=4",
        "micro_batch_size=2" if processes == 1 else "micro_batch_size=1",
        "epochs=3",
        f"dev_data={DEV}",
        "eval_steps=6",
        "keep_best=false",
        "logging_steps=1",
        "report_to=none",
        "seed=0",
        "save_total_limit=10",
    ]
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
    subprocess.run([*launch, "-m", "seqtune.cli", *args, f"output_dir={reference}"], check=True, env=env)

    kill_script = tmp_path / "kill_after_checkpoint.py"
    kill_script.write_text(_KILL_AFTER_CHECKPOINT, encoding="utf-8")
    killed = subprocess.run(
        [*launch, str(kill_script), *args, f"output_dir={interrupted}"],
        env=dict(env, KILL_AFTER_CHECKPOINT="18"),
        capture_output=True,
    )
    assert killed.returncode != 0
    checkpoints = sorted(p.name for p in (interrupted / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-12", "checkpoint-18", "checkpoint-6"], killed.stderr.decode()[-2000:]
    assert not (interrupted / "model").exists()  # it really died before the end

    resumed = subprocess.run(
        [*launch, "-m", "seqtune.cli", *args, f"output_dir={interrupted}", "resume=true"],
        env=env,
        capture_output=True,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    weights = Path("model") / "adapter_model.safetensors"
    assert _sha256(interrupted / weights) == _sha256(reference / weights)
    history = json.loads((interrupted / "log_history.json").read_text())
    reference_history = json.loads((reference / "log_history.json").read_text())
    losses = [(e["step"], e["loss"]) for e in history if "loss" in e]
    assert losses == [(e["step"], e["loss"]) for e in reference_history if "loss" in e]
    assert losses[-1][0] == 36


@pytest.mark.slow
def test_two_cpu_processes_share_the_global_batch(tiny_model, tmp_path):
    out = tmp_path / "ddp"
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
    ]
    command = [
        *torchrun,
        "-m",
        "seqtune.cli",
        "-q",
        "train",
        f"data={TRAIN}",
        f"model={tiny_model}",
        "finetune=full",
        "cutoff_len=512",
        "global_batch_size=8",
        "micro_batch_size=2",
        "epochs=2",
        "dev_size=0",
        "keep_best=false",
        "eval_steps=100",
        "logging_steps=1",
        "report_to=none",
        f"output_dir={out}",
    ]
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    result = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert training["processes"] == 2
    assert training["gradient_accumulation_steps"] == 2  # 8 = 2 per process × 2 accumulation × 2 processes
    assert training["global_batch_size"] == 8
    assert training["global_step"] == 48 // 8 * 2  # 48 examples, 8 per optimizer step, 2 epochs


def test_train_help_and_config_errors_need_no_torch():
    code = (
        "import sys\n"
        "from seqtune.cli import main\n"
        "rc = main(['train', 'data=missing.jsonl', 'output_dir=x'])\n"
        "assert rc == 2, rc\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "seqtune: error: data: file not found: missing.jsonl"
