"""generate with the local Hugging Face back-end: batching, stop strings, adapters, saved templates, resume."""

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.config import build
from seqtune.generate.backend import Decoding, truncate_at_stop
from seqtune.generate.config import GenerateConfig
from seqtune.prompts import PromptTemplate
from seqtune.tasks import TASKS, Example, PromptSpec, Task

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"
QUESTIONS = [
    "Where would you put a plate after washing it?",
    "What do people use to cut paper?",
    "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?",
    "Hi?",
    "Which is the largest planet of the solar system, and which is the smallest one?",
    "Why is the sky blue during the day but dark at night?",
    "Name a fruit.",
]
PROMPTS = [f"Answer the question.\n{q}\nAnswer:" for q in QUESTIONS]


@TASKS.register("generate_toy")
class ToyTask(Task):
    """A small task for generate's tests (the real tasks are tested with their own files)."""

    name = "generate_toy"

    def read(self, source=None, **options):
        return [Example(id=f"q{i}", question=q, gold="A", meta={"n": i}) for i, q in enumerate(QUESTIONS)]

    def extract_answer(self, text, prediction):
        return text.strip() or None

    def answer_metrics(self, answer, prediction):
        return {"correct": answer == prediction["gold"]}

    def variant_names(self):
        return ["plain", "repeat", "neg"]

    def build_prompt(self, example, variant):
        if variant == "plain":
            return PromptSpec("Answer the question.", example.question, [], [])
        prefix = "The input is about cats.\n" if variant == "neg" else ""
        return PromptSpec(
            "First repeat the input, then answer the question.",
            example.question,
            ["repeat"],
            [example.question],
            template="repeat/paper",
            response_prefix=prefix,
        )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Llama with larger random weights (varied, not repetitive, outputs) and a second EOS id that it
    emits now and then, so that rows of a batch end at different steps."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seqtune.tiny_model import TinySpec, build_tiny_model

    texts = [
        json.loads(line)["instruction"] + " " + json.loads(line)["output"]
        for line in open(SAMPLES / "alpaca.jsonl")
    ]
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts, TinySpec(vocab_size=512))
    model = AutoModelForCausalLM.from_pretrained(folder)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0, 0.3, generator=generator)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, _frequent_token(model, tokenizer)]
    model.save_pretrained(folder)
    return folder


def _frequent_token(model, tokenizer) -> int:
    """A token that greedy decoding produces mid-way for some prompts (used as an extra EOS)."""
    import collections

    import torch

    counts = collections.Counter()
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=24, do_sample=False, eos_token_id=None, pad_token_id=0)
        counts.update(set(out[0, ids["input_ids"].shape[1] :].tolist()))
    return next(token for token, count in counts.most_common() if count < len(PROMPTS) // 2 + 1)


@functools.cache
def _reference_model(folder, adapter=None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return model, AutoTokenizer.from_pretrained(folder)


def reference_ids(folder, prompt, max_new_tokens, adapter=None) -> list[int]:
    """The reference way: plain transformers (+ peft), one prompt at a time, no padding."""
    import torch

    model, tokenizer = _reference_model(folder, adapter)
    eos = set(model.generation_config.eos_token_id)
    encoded = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False)
    ids = out[0, encoded["input_ids"].shape[1] :].tolist()
    return ids[: next((i for i, t in enumerate(ids) if t in eos), len(ids))]


@pytest.fixture(scope="session")
def backend(tiny_model):
    from seqtune.generate.hf_backend import HFBackend

    return HFBackend.load(str(tiny_model), batch_size=3)


def test_batched_generation_equals_one_by_one(backend, tiny_model):
    decoding = Decoding(max_new_tokens=24)
    batched = backend.generate_ids(PROMPTS, decoding)
    one_by_one = [reference_ids(tiny_model, prompt, 24) for prompt in PROMPTS]
    assert batched == one_by_one
    lengths = {len(ids) for ids in batched}
    assert len(lengths) > 1 and max(lengths) == 24, (
        "rows should end at different steps (EOS) and at the limit"
    )
    texts = backend.generate(PROMPTS, decoding)
    assert texts == [backend.tokenizer.decode(ids, skip_special_tokens=True) for ids in one_by_one]
    assert all(text and not text.startswith(PROMPTS[0][:10]) for text in texts if text)


def test_results_come_back_in_the_callers_order(backend):
    decoding = Decoding(max_new_tokens=8)
    forward = backend.generate(PROMPTS, decoding)
    backward = backend.generate(PROMPTS[::-1], decoding)
    assert backward == forward[::-1]
    seen = []
    backend.generate(
        PROMPTS, decoding, on_done=lambda indices, texts: seen.extend(zip(indices, texts, strict=True))
    )
    assert sorted(seen) == sorted(enumerate(forward)) and len(seen) == len(PROMPTS)


def test_stop_strings_end_generation_and_are_not_part_of_the_response(backend):
    decoding = Decoding(max_new_tokens=24)
    full_texts = backend.generate(PROMPTS, decoding)
    index, full = max(enumerate(full_texts), key=lambda item: len(item[1]))
    middle = len(full) // 3
    start = next(
        i for i in range(middle, len(full) - 3) if full[i : i + 3].isascii() and full[i : i + 3].isalpha()
    )
    stop = full[start : start + 3]
    stopped = backend.generate(PROMPTS, Decoding(max_new_tokens=24, stop=(stop,)))
    assert stopped[index] == full[: full.index(stop)]
    ids = backend.generate_ids(PROMPTS, Decoding(max_new_tokens=24, stop=(stop,)))
    assert len(ids[index]) < len(backend.generate_ids([PROMPTS[index]], decoding)[0]), (
        "generation went on after the stop string"
    )
    for other, text in zip(full_texts, stopped, strict=True):
        assert text == truncate_at_stop(other, (stop,))


def test_min_new_tokens_ignores_eos(backend):
    ids = backend.generate_ids(PROMPTS, Decoding(max_new_tokens=16, min_new_tokens=16))
    assert [len(row) for row in ids] == [16] * len(PROMPTS)


def _config(tiny_model, output, **overrides) -> GenerateConfig:
    values = {
        "task": "generate_toy",
        "model": str(tiny_model),
        "output": str(output),
        "max_new_tokens": 12,
        "batch_size": 4,
    }
    return build(GenerateConfig, {**values, **overrides})


def test_generate_writes_predictions_with_everything_scoring_needs(tiny_model, tmp_path):
    from seqtune.generate.pipeline import run_generate

    path = run_generate(_config(tiny_model, tmp_path / "run", variants=["plain", "neg"], limit=3))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["variant"], r["id"]) for r in records] == [
        (v, f"q{i}") for v in ("plain", "neg") for i in range(3)
    ]
    first = records[0]
    assert set(first) >= {
        "id",
        "task",
        "variant",
        "prompt",
        "response",
        "model",
        "adapter",
        "decoding",
        "gold",
        "steps",
        "expected",
        "template",
        "lang",
        "question",
        "response_prefix",
    }
    assert first["decoding"] == {
        "max_new_tokens": 12,
        "min_new_tokens": 0,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": [],
        "seed": 0,
    }
    assert first["prompt"].startswith("Below is an instruction") and first["prompt"].endswith(
        "### Response:\n"
    )
    neg = records[3]
    assert neg["response_prefix"] == "The input is about cats.\n" and neg["prompt"].endswith(
        "### Response:\nThe input is about cats.\n"
    )
    assert neg["steps"] == ["repeat"] and neg["expected"] == [QUESTIONS[0]] and neg["meta"] == {"n": 0}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["counts"]["predictions"] == 6 and manifest["counts"]["generated"] == 6
    assert not (tmp_path / "run" / "predictions.partial.jsonl").exists()


def test_adapter_folder_loads_base_plus_adapter_and_its_saved_template(tiny_model, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from seqtune.generate.pipeline import run_generate

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter_dir = tmp_path / "adapter"
    get_peft_model(base, lora).save_pretrained(adapter_dir)
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_model
    )
    PromptTemplate(
        name="qa", prompt_input="Q: {instruction}\n{input}\nA:", prompt_no_input="Q: {instruction}\nA:"
    ).save(adapter_dir)

    path = run_generate(_config(adapter_dir, tmp_path / "run", variants=["plain"], limit=3))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {(r["model"], r["adapter"], r["prompt_template"]) for r in records} == {
        (str(tiny_model), str(adapter_dir), "qa")
    }
    assert records[0]["prompt"] == f"Q: Answer the question.\n{QUESTIONS[0]}\nA:"
    tokenizer_decode = _decoder(tiny_model)
    for record in records:
        assert record["response"] == tokenizer_decode(
            reference_ids(tiny_model, record["prompt"], 12, adapter=adapter_dir)
        )
    assert any(
        r["response"] != tokenizer_decode(reference_ids(tiny_model, r["prompt"], 12)) for r in records
    ), "the adapter changed nothing: was it loaded?"


def _decoder(folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)


class Interrupt(Exception):
    pass


def test_interrupted_generate_resumes_without_regenerating(tiny_model, tmp_path, monkeypatch):
    from seqtune.generate import hf_backend
    from seqtune.generate.pipeline import run_generate

    clean = run_generate(_config(tiny_model, tmp_path / "clean", batch_size=2)).read_bytes()

    original = hf_backend.HFBackend.generate
    generated: list[int] = []

    def interrupted(self, prompts, decoding, on_done=None):
        calls = []

        def stop_after_two_batches(indices, texts):
            on_done(indices, texts)
            calls.append(indices)
            if len(calls) == 2:
                raise Interrupt

        generated.append(len(prompts))
        return original(self, prompts, decoding, on_done=stop_after_two_batches)

    monkeypatch.setattr(hf_backend.HFBackend, "generate", interrupted)
    output = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        run_generate(_config(tiny_model, output, batch_size=2))
    partial = output / "predictions.partial.jsonl"
    assert not (output / "predictions.jsonl").exists()
    assert len(partial.read_text().splitlines()) == 4
    with open(partial, "a") as handle:
        handle.write('{"id": "q6", "variant": "pl')  # a torn line, as a crash mid-write leaves

    monkeypatch.setattr(
        hf_backend.HFBackend,
        "generate",
        lambda self, prompts, decoding, on_done=None: (
            generated.append(len(prompts)),
            original(self, prompts, decoding, on_done=on_done),
        )[1],
    )
    resumed = run_generate(_config(tiny_model, output, batch_size=2))
    total = len(QUESTIONS) * 3
    assert generated == [total, total - 4]
    assert resumed.read_bytes() == clean
    assert json.loads((output / "manifest.json").read_text())["counts"]["reused"] == 4

    # a finished run is reused as a whole; a changed decoding setting regenerates everything
    run_generate(_config(tiny_model, output, batch_size=2))
    assert generated[-1] == total - 4
    run_generate(_config(tiny_model, output, batch_size=2, max_new_tokens=5))
    assert generated[-1] == total
    # so does changed data behind an unchanged prompt (here: a corrected gold answer)
    lines = (output / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    edited = {**json.loads(lines[0]), "gold": "Z"}
    (output / "predictions.jsonl").write_text(
        "\n".join([json.dumps(edited), *lines[1:]]) + "\n", encoding="utf-8"
    )
    run_generate(_config(tiny_model, output, batch_size=2, max_new_tokens=5))
    assert generated[-1] == 1


def test_generate_cli_help_and_module_imports_stay_light(tmp_path):
    code = (
        "import sys; import seqtune.generate.pipeline, seqtune.generate.hf_backend, seqtune.generate.http_backend;"
        "from seqtune.generate.backend import BACKENDS; assert BACKENDS.names() == ['hf', 'http'], BACKENDS.names();"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "seqtune.cli", "generate", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--max-new-tokens" in result.stdout and "--base-url" in result.stdout


def test_bad_config_is_one_clear_error(tiny_model, tmp_path):
    from seqtune.errors import ConfigError
    from seqtune.generate.pipeline import run_generate

    with pytest.raises(ConfigError, match="min_new_tokens"):
        _config(tiny_model, tmp_path, min_new_tokens=50)
    with pytest.raises(ConfigError, match="no variant"):
        run_generate(_config(tiny_model, tmp_path, variants=["nope"]))
    adapter_copy = tmp_path / "broken_adapter"
    adapter_copy.mkdir()
    (adapter_copy / "adapter_config.json").write_text("{}")
    with pytest.raises(Exception, match="base_model_name_or_path"):
        run_generate(_config(adapter_copy, tmp_path / "x"))
    shutil.rmtree(adapter_copy)


def test_local_hf_provider_answers_chat_requests_with_the_hf_backend_and_caches(
    tiny_model, backend, tmp_path, monkeypatch
):
    from seqtune.generate import hf_backend
    from seqtune.prompts import get_template
    from seqtune.providers.base import ChatRequest, ProviderSettings, build_provider

    settings = ProviderSettings(
        model=str(tiny_model), cache_path=str(tmp_path / "cache.jsonl"), options={"batch_size": 2}
    )
    requests = [
        ChatRequest.system_user("Paraphrase the input.", q, temperature=0, max_tokens=10)
        for q in QUESTIONS[:4]
    ]
    requests.append(
        ChatRequest.build([{"role": "user", "content": "Name a colour."}], temperature=0, max_tokens=6)
    )
    provider = build_provider("local_hf", settings)
    completions = provider.complete(requests)
    provider.close()
    alpaca = get_template("alpaca")
    expected = backend.generate(
        [alpaca.render("Paraphrase the input.", q) for q in QUESTIONS[:4]], Decoding(max_new_tokens=10)
    )
    expected += backend.generate([alpaca.render("Name a colour.")], Decoding(max_new_tokens=6))
    assert [c.text for c in completions] == expected and all(c.ok for c in completions)

    monkeypatch.setattr(
        hf_backend.HFBackend, "load", lambda *a, **k: pytest.fail("a cached re-run loaded the model")
    )
    again = build_provider("local_hf", settings)
    assert [c.text for c in again.complete(requests)] == expected
    again.close()


def test_eval_cli_generates_then_scores_a_real_task(tiny_model, tmp_path):
    from seqtune.cli import main

    output = tmp_path / "eval"
    argv = [
        "eval",
        "task=commonsense_qa",
        f"data={SAMPLES / 'commonsense_qa.dev.jsonl'}",
        f"model={tiny_model}",
        f"output={output}",
        "limit=3",
        "variants=[plain,repeat-neg]",
        "max_new_tokens=6",
        "score_options={bertscore: false}",
    ]
    assert main(argv) == 0
    predictions = [
        json.loads(line) for line in (output / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(predictions) == 6 and {p["variant"] for p in predictions} == {"plain", "repeat-neg"}
    assert all(p["meta"]["choices"] and p["gold"] in "ABCDE" for p in predictions)
    neg = [p for p in predictions if p["variant"] == "repeat-neg"]
    assert all(p["response_prefix"] and p["prompt"].endswith(p["response_prefix"]) for p in neg)
    scores = (output / "scores.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(scores) == 6
    # scoring the saved predictions again, with no model, reproduces eval's summary and scores exactly
    assert main(["score", str(output / "predictions.jsonl"), f"output={tmp_path / 'rescored'}"]) == 0
    for name in ("summary.json", "scores.jsonl"):
        assert (tmp_path / "rescored" / name).read_bytes() == (output / name).read_bytes()
    bad = [
        "eval",
        "task=commonsense_qa",
        "model=/nonexistent",
        f"output={tmp_path / 'bad'}",
        "score_options={nope: 1}",
    ]
    assert main(bad) == 2 and not (tmp_path / "bad").exists()


def test_a_missing_model_folder_is_a_one_line_error(tmp_path):
    from seqtune.errors import SeqtuneError
    from seqtune.generate.hf_backend import HFBackend

    with pytest.raises(SeqtuneError, match="no such folder"):
        HFBackend.load(str(tmp_path / "no" / "model"))
