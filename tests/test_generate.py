"""generate with the local Hugging Face back-end (batching, stop strings, adapters, saved templates, resume) and
with the responses back-end (responses written by another system, replayed as predictions)."""

import functools
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.config import build
from seqtune.errors import ConfigError
from seqtune.generate.config import GenerateConfig
from seqtune.lm.base import Decoding, Request, truncate_at_stop
from seqtune.prompts import PromptTemplate
from toy_task import QUESTIONS, generate_toy  # noqa: F401  (generate_toy: the fixture that registers the task)

pytestmark = pytest.mark.usefixtures("generate_toy")
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples"
PROMPTS = [f"Answer the question.\n{q}\nAnswer:" for q in QUESTIONS]


@pytest.fixture(scope="session")
def tiny_model(tiny_model, tmp_path_factory) -> Path:
    """conftest's tiny Llama with larger random weights (varied, not repetitive, outputs) and a second EOS id that
    it emits now and then, so that rows of a batch end at different steps."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("varied") / "model"
    shutil.copytree(tiny_model, folder)
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
    from seqtune.lm.hf import HFCausalLM

    return HFCausalLM(str(tiny_model), batch_size=3, reject_incomplete=False)


def texts(lm, prompts, decoding, on_done=None) -> list[str]:
    """The answers of `lm` to written prompts."""
    return [
        c.text for c in lm.complete([Request(prompt=p, decoding=decoding) for p in prompts], on_done=on_done)
    ]


def test_batched_generation_equals_one_by_one(backend, tiny_model):
    decoding = Decoding(max_new_tokens=24)
    batched = backend.trimmed_ids(PROMPTS, decoding)
    one_by_one = [reference_ids(tiny_model, prompt, 24) for prompt in PROMPTS]
    assert batched == one_by_one
    lengths = {len(ids) for ids in batched}
    assert len(lengths) > 1 and max(lengths) == 24, (
        "rows should end at different steps (EOS) and at the limit"
    )
    answers = texts(backend, PROMPTS, decoding)
    assert answers == [backend.tokenizer.decode(ids, skip_special_tokens=True) for ids in one_by_one]
    assert all(text and not text.startswith(PROMPTS[0][:10]) for text in answers if text)


def test_continuous_batching_gives_the_same_greedy_outputs_as_static_batches(backend, tiny_model):
    from seqtune.lm.hf import HFCausalLM

    decoding = Decoding(max_new_tokens=24)
    continuous = HFCausalLM(
        str(tiny_model),
        network=backend.network,
        tokenizer=backend.tokenizer,
        batching="continuous",
        reject_incomplete=False,
    )
    assert continuous.continuous and not backend.continuous  # auto is static on the CPU
    ids = continuous.trimmed_ids(PROMPTS, decoding)
    assert ids == backend.trimmed_ids(PROMPTS, decoding)
    assert len({len(row) for row in ids}) > 1, "rows should end at different steps"
    answers = continuous.complete([Request(prompt=p, decoding=decoding) for p in PROMPTS])
    assert [(c.text, c.finish_reason) for c in answers] == [
        (c.text, c.finish_reason)
        for c in backend.complete([Request(prompt=p, decoding=decoding) for p in PROMPTS])
    ]


def test_a_local_answer_cut_off_by_the_token_limit_is_reported_as_such(backend):
    decoding = Decoding(max_new_tokens=24)
    lengths = [len(ids) for ids in backend.trimmed_ids(PROMPTS, decoding)]
    answers = backend.complete([Request(prompt=p, decoding=decoding) for p in PROMPTS])
    assert [c.finish_reason for c in answers] == ["length" if n == 24 else "stop" for n in lengths]
    assert {"length", "stop"} == {c.finish_reason for c in answers}


def test_results_come_back_in_the_callers_order(backend):
    decoding = Decoding(max_new_tokens=8)
    forward = texts(backend, PROMPTS, decoding)
    backward = texts(backend, PROMPTS[::-1], decoding)
    assert backward == forward[::-1]
    seen = []
    texts(
        backend,
        PROMPTS,
        decoding,
        on_done=lambda indices, answers: seen.extend(
            (i, c.text) for i, c in zip(indices, answers, strict=True)
        ),
    )
    assert sorted(seen) == sorted(enumerate(forward)) and len(seen) == len(PROMPTS)


def test_stop_strings_end_generation_and_are_not_part_of_the_response(backend):
    decoding = Decoding(max_new_tokens=24)
    full_texts = texts(backend, PROMPTS, decoding)
    index, full = max(enumerate(full_texts), key=lambda item: len(item[1]))
    middle = len(full) // 3
    start = next(
        i for i in range(middle, len(full) - 3) if full[i : i + 3].isascii() and full[i : i + 3].isalpha()
    )
    stop = full[start : start + 3]
    stopped = texts(backend, PROMPTS, Decoding(max_new_tokens=24, stop=(stop,)))
    assert stopped[index] == full[: full.index(stop)]
    ids = backend.trimmed_ids(PROMPTS, Decoding(max_new_tokens=24, stop=(stop,)))
    assert len(ids[index]) < len(backend.trimmed_ids([PROMPTS[index]], decoding)[0]), (
        "generation went on after the stop string"
    )
    for other, text in zip(full_texts, stopped, strict=True):
        assert text == truncate_at_stop(other, (stop,))


def test_min_new_tokens_ignores_eos(backend):
    ids = backend.trimmed_ids(PROMPTS, Decoding(max_new_tokens=16, min_new_tokens=16))
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
    manifest = json.loads((tmp_path / "run" / "predictions.jsonl.manifest.json").read_text())
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
    from seqtune.generate.pipeline import run_generate
    from seqtune.lm.hf import HFCausalLM

    clean = run_generate(_config(tiny_model, tmp_path / "clean", batch_size=2)).read_bytes()

    original = HFCausalLM._complete
    generated: list[int] = []

    def interrupted(self, requests, done):
        calls = []

        def stop_after_two_batches(indices, answers):
            done(indices, answers)
            calls.append(indices)
            if len(calls) == 2:
                raise Interrupt

        generated.append(len(requests))
        return original(self, requests, stop_after_two_batches)

    monkeypatch.setattr(HFCausalLM, "_complete", interrupted)
    output = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        run_generate(_config(tiny_model, output, batch_size=2))
    partial = output / "predictions.partial.jsonl"
    assert not (output / "predictions.jsonl").exists()
    assert len(partial.read_text().splitlines()) == 4
    with open(partial, "a") as handle:
        handle.write('{"id": "q6", "variant": "pl')  # a torn line, as a crash mid-write leaves

    monkeypatch.setattr(
        HFCausalLM,
        "_complete",
        lambda self, requests, done: (generated.append(len(requests)), original(self, requests, done))[1],
    )
    resumed = run_generate(_config(tiny_model, output, batch_size=2))
    total = len(QUESTIONS) * 3
    assert generated == [total, total - 4]
    assert resumed.read_bytes() == clean
    assert json.loads((output / "predictions.jsonl.manifest.json").read_text())["counts"]["reused"] == 4

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
        "import sys; import seqtune.generate.pipeline; from seqtune.lm.base import LMS;"
        "assert LMS.names() == ['hf', 'openai'], LMS.names();"
        "assert not {'torch', 'transformers', 'openai'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "seqtune.cli", "generate", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--max-new-tokens" in result.stdout and "--base-url" in result.stdout


def test_bad_config_is_one_clear_error(tiny_model, tmp_path):
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


def test_the_local_model_answers_chat_requests_through_the_cache(tiny_model, backend, tmp_path, monkeypatch):
    from seqtune.lm.hf import HFCausalLM
    from seqtune.lm.settings import LMSettings, build_lm
    from seqtune.prompts import get_template

    settings = LMSettings(model=str(tiny_model), batch_size=2)
    requests = [Request.chat("Paraphrase the input.", q, Decoding(max_new_tokens=10)) for q in QUESTIONS[:4]]
    requests.append(Request(messages=({"role": "user", "content": "Name a colour."},), decoding=Decoding(6)))
    lm = build_lm(settings, reject_incomplete=False, cache_path=str(tmp_path / "cache.sqlite"))
    completions = lm.complete(requests)
    lm.close()
    alpaca = get_template("alpaca")
    expected = texts(
        backend, [alpaca.render("Paraphrase the input.", q) for q in QUESTIONS[:4]], Decoding(10)
    )
    expected += texts(backend, [alpaca.render("Name a colour.")], Decoding(max_new_tokens=6))
    assert [c.text for c in completions] == expected and all(c.ok for c in completions)

    monkeypatch.setattr(HFCausalLM, "_load", lambda *a, **k: pytest.fail("a cached re-run loaded the model"))
    again = build_lm(settings, reject_incomplete=False, cache_path=str(tmp_path / "cache.sqlite"))
    assert [c.text for c in again.complete(requests)] == expected
    again.close()
    monkeypatch.undo()
    # the rules augment needs: an answer cut off by the token limit is no target (it is asked again here)
    strict = build_lm(settings, reject_incomplete=True, cache_path=str(tmp_path / "cache.sqlite"))
    judged = strict.complete(requests)
    strict.close()
    assert {c.failure for c in judged if not c.ok} <= {"truncated", "empty"}
    assert [c.ok for c in judged] == [
        c.finish_reason != "length" and bool(c.text.strip()) for c in completions
    ]


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
    from seqtune.lm.hf import HFCausalLM

    with pytest.raises(SeqtuneError, match="no such folder"):
        HFCausalLM(str(tmp_path / "no" / "model"))


# ---- backend=responses: responses written by another system ----

PREDICTION_FIELDS = {
    "id",
    "task",
    "variant",
    "prompt",
    "response",
    "model",
    "adapter",
    "decoding",
    "prompt_template",
    "gold",
    "lang",
    "question",
    "steps",
    "expected",
    "template",
    "template_split",
    "response_prefix",
    "meta",
}


def _write_lines(path: Path, lines: list) -> Path:
    """One JSON value per line (strings are written as they are, so a test can write a broken line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def _generate_responses(tmp_path, responses: Path, *extra: str, task: str = "generate_toy") -> int:
    from seqtune.cli import main

    argv = ["generate", f"task={task}", "backend=responses", f"responses={responses}"]
    return main([*argv, f"output={tmp_path / 'run'}", *extra])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_responses_are_matched_by_id_as_strings_and_the_rest_counted_and_named(tmp_path, caplog):
    responses = _write_lines(
        tmp_path / "answers.jsonl",
        [
            {"id": 2, "response": "two"},
            {"id": "0", "response": "zero"},
            {"id": 99, "response": "not an example"},
            {"id": 1, "response": "one", "extra": "ignored"},
            {"id": "q4", "response": "another id scheme"},
        ],
    )
    caplog.set_level("WARNING")
    assert _generate_responses(tmp_path, responses, "variants=[repeat]", "task_options={id_prefix: ''}") == 0
    records = _lines(tmp_path / "run" / "predictions.jsonl")
    # task order, not file order; integer ids in the file match the task's string ids
    assert [(r["id"], r["response"]) for r in records] == [("0", "zero"), ("1", "one"), ("2", "two")]
    assert all(set(r) == PREDICTION_FIELDS for r in records)
    assert {(r["model"], r["adapter"], r["variant"]) for r in records} == {("answers.jsonl", None, "repeat")}
    assert records[0]["decoding"] == {} and records[0]["expected"] == [QUESTIONS[0]]
    manifest = json.loads((tmp_path / "run" / "predictions.jsonl.manifest.json").read_text())
    assert manifest["responses"] == {
        "read": 5,
        "skipped": {},
        "used": 3,
        "unmatched": 2,
        "missing": 4,
        "first_unmatched": ["99", "q4"],
        "first_missing": ["3", "4", "5", "6"],
    }
    assert manifest["counts"]["predictions"] == 3 and manifest["decoding"] == {}
    assert str(responses) in manifest["inputs"]
    assert "2 response(s) match no example of this run, e.g. 99, q4" in caplog.text
    assert "4 example(s) have no response and are left out, e.g. 3, 4, 5, 6" in caplog.text


def test_responses_with_a_variant_field_answer_several_variants_and_score(tmp_path):
    from seqtune.score import ScoreConfig, run_score

    data = SAMPLES / "commonsense_qa.dev.jsonl"
    examples = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()[:3]]
    lines = [
        {"qid": e["id"], "variant": variant, "text": f"The answer is {e['answerKey']}."}
        for variant in ("repeat", "plain")
        for e in examples
    ]
    lines.append({"qid": examples[0]["id"], "variant": "paraphrase", "text": "not asked for in this run"})
    responses = _write_lines(tmp_path / "other-system.jsonl.gz", lines)
    options = [
        "id_field=qid",
        "response_field=text",
        "model=my-system",
        "responses_decoding={temperature: 0}",
    ]
    code = _generate_responses(
        tmp_path, responses, f"data={data}", "variants=[plain,repeat]", *options, task="commonsense_qa"
    )
    assert code == 0
    records = _lines(tmp_path / "run" / "predictions.jsonl")
    assert [(r["variant"], r["id"]) for r in records] == [
        (v, e["id"]) for v in ("plain", "repeat") for e in examples
    ]
    assert {r["model"] for r in records} == {"my-system"} and records[0]["decoding"] == {"temperature": 0}
    assert all(r["response"] == f"The answer is {r['gold']}." for r in records)
    manifest = json.loads((tmp_path / "run" / "predictions.jsonl.manifest.json").read_text())
    assert manifest["responses"]["unmatched"] == 1
    assert manifest["responses"]["first_unmatched"] == [f"{examples[0]['id']} (paraphrase)"]
    assert manifest["responses"]["missing"] == 2 * (60 - 3)

    run_score(build(ScoreConfig, {"predictions": [str(tmp_path / "run" / "predictions.jsonl")]}))
    scores = _lines(tmp_path / "run" / "scores.jsonl")
    assert [(s["id"], s["variant"]) for s in scores] == [(r["id"], r["variant"]) for r in records]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert sorted((s["variant"], s["model"], s["n"]) for s in summary) == [
        ("plain", "my-system", 3),
        ("repeat", "my-system", 3),
    ]
    assert all(s["decoding"] == {"temperature": 0} and "accuracy" in s["metrics"] for s in summary)


BAD_LINES = [
    ({"response": "A"}, "missing_field", "answers.jsonl:line 2: field 'id': missing"),
    ({"id": "q1"}, "missing_field", "answers.jsonl:line 2: field 'response': missing"),
    ({"id": "q1", "response": ["A"]}, "wrong_type", "line 2: field 'response': expected a string, got list"),
    ({"id": 1.5, "response": "A"}, "wrong_type", "field 'id': expected a string or an integer, got float"),
    ({"id": True, "response": "A"}, "wrong_type", "field 'id': expected a string or an integer, got bool"),
    ('{"id": "q1", "response": "A"', "invalid_json", "answers.jsonl:line 2: invalid JSON"),
    (
        {"id": "q1", "variant": "plain", "response": "A"},
        "mixed_variant",
        "line 2: field 'variant': present, unlike line 1: name the variant on every line or on none",
    ),
]


@pytest.mark.parametrize(("bad", "reason", "message"), BAD_LINES)
def test_a_bad_responses_line_is_one_line_naming_file_line_and_field_or_is_skipped(
    tmp_path, capsys, bad, reason, message
):
    responses = _write_lines(tmp_path / "answers.jsonl", [{"id": "q0", "response": "A"}, bad])
    assert _generate_responses(tmp_path, responses, "variants=[plain]") == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "run" / "predictions.jsonl").exists()

    assert _generate_responses(tmp_path, responses, "variants=[plain]", "on_error=skip") == 0
    assert [r["id"] for r in _lines(tmp_path / "run" / "predictions.jsonl")] == ["q0"]
    counts = json.loads((tmp_path / "run" / "predictions.jsonl.manifest.json").read_text())["responses"]
    assert counts["skipped"] == {reason: 1} and counts["read"] == 1


def test_a_repeated_id_is_an_error_naming_both_lines_even_when_skipping(tmp_path, capsys):
    responses = _write_lines(
        tmp_path / "answers.jsonl",
        [{"id": "q0", "response": "A"}, {"id": "q1", "response": "B"}, {"id": "q0", "response": "C"}],
    )
    for extra in ([], ["on_error=skip"]):
        assert _generate_responses(tmp_path, responses, "variants=[plain]", *extra) == 2
        error = capsys.readouterr().err
        assert "answers.jsonl:line 3: field 'id': id 'q0' already has a response (line 1)" in error
    keyed = _write_lines(
        tmp_path / "keyed.jsonl",
        [{"id": "q0", "variant": v, "response": "A"} for v in ("plain", "repeat", "plain")],
    )
    assert _generate_responses(tmp_path, keyed, "variants=[plain]") == 2
    assert (
        "line 3: field 'id': id 'q0', variant 'plain' already has a response (line 1)"
        in capsys.readouterr().err
    )


def test_responses_config_errors_are_one_line(tmp_path, capsys):
    responses = _write_lines(tmp_path / "answers.jsonl", [{"id": "q0", "response": "A"}])
    cases = [
        # no variant field, several variants
        (["variants=[plain,repeat]"], "has no 'variant' field, so it answers one prompt variant"),
        ([], "has no 'variant' field, so it answers one prompt variant"),
        # ids of another data set
        (["variants=[plain]", "task_options={id_prefix: x}"], "no response matches an example of this run"),
        # the file this run would overwrite
        (
            ["variants=[plain]", f"responses={tmp_path / 'run' / 'predictions.jsonl'}"],
            "this output is also an input",
        ),
    ]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "predictions.jsonl").write_text('{"id": "q0", "response": "A"}\n')
    for extra, message in cases:
        assert _generate_responses(tmp_path, responses, *extra) == 2, extra
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1, error
    with pytest.raises(ConfigError, match="model: required with backend=hf"):
        build(GenerateConfig, {"task": "generate_toy", "output": str(tmp_path)})
    with pytest.raises(ConfigError, match="backend=responses needs a responses file"):
        build(GenerateConfig, {"task": "generate_toy", "output": str(tmp_path), "backend": "responses"})
    with pytest.raises(ConfigError, match="only it reads one"):
        build(
            GenerateConfig, {"task": "generate_toy", "model": "m", "output": ".", "responses": str(responses)}
        )


def test_a_rerun_reads_the_responses_file_afresh(tmp_path):
    responses = tmp_path / "answers.jsonl"
    _write_lines(responses, [{"id": "q0", "response": "first"}, {"id": "q1", "response": "first"}])
    assert _generate_responses(tmp_path, responses, "variants=[plain]") == 0
    first = (tmp_path / "run" / "predictions.jsonl").read_bytes()
    # an unchanged file gives the same bytes; an edited one is what the predictions hold, never a stale copy
    assert _generate_responses(tmp_path, responses, "variants=[plain]") == 0
    assert (tmp_path / "run" / "predictions.jsonl").read_bytes() == first
    _write_lines(responses, [{"id": "q0", "response": "second"}, {"id": "q1", "response": "first"}])
    assert _generate_responses(tmp_path, responses, "variants=[plain]") == 0
    assert [r["response"] for r in _lines(tmp_path / "run" / "predictions.jsonl")] == ["second", "first"]
    assert not (tmp_path / "run" / "predictions.partial.jsonl").exists()


def test_a_file_without_ids_answers_by_position(tmp_path):
    # as the SIT authors' generate.py writes its output: the evaluation records, `output` replaced by the response
    decoded = [
        {"instruction": "Answer the question.", "input": q, "output": f"response {i}"}
        for i, q in enumerate(QUESTIONS[:3])
    ]
    responses = _write_lines(tmp_path / "test-en_decoded_by_sit.jsonl", decoded)
    options = ["id_field=", "response_field=output", "variants=[plain]", "task_options={id_prefix: ''}"]
    assert _generate_responses(tmp_path, responses, *options) == 0
    records = _lines(tmp_path / "run" / "predictions.jsonl")
    assert [(r["id"], r["question"], r["response"]) for r in records] == [
        (str(i), q, f"response {i}") for i, q in enumerate(QUESTIONS[:3])
    ]
