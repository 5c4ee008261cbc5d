"""The language-model layer (seqtune.lm) against the suite's fake server (tests/fake_openai.py) with injected
faults: the official openai client's retries, the one answer cache, the API-key policy, answers that must not be
used (empty, cut off, lone surrogate), plain completions, and the settings shared by augment and generate."""

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from seqtune.data.instructions import iter_instruction_records
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.lm.base import LM, Completion, Decoding, Request
from seqtune.lm.cache import ResponseCache
from seqtune.lm.openai_http import OpenAILM
from seqtune.lm.settings import LMSettings, build_lm
from seqtune.records import ErrorPolicy

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "seqtune" / "samples" / "alpaca.jsonl"
GREEDY = Decoding(max_new_tokens=64)


def _requests(texts, decoding=GREEDY):
    return [Request.chat("Paraphrase the input sentence given by user.", t, decoding) for t in texts]


def _client(server, tmp_path=None, *, reject_incomplete=True, **settings) -> OpenAILM:
    values = {
        "backend": "openai",
        "model": "fake-model",
        "concurrency": 4,
        "max_retries": 4,
        "timeout_s": 5.0,
    }
    cache = str(tmp_path / "cache.sqlite") if tmp_path else None
    return OpenAILM(
        LMSettings(**{**values, "base_url": server.base_url, **settings}),
        reject_incomplete=reject_incomplete,
        cache_path=cache,
    )


def _cached_texts(path: Path) -> list[str]:
    """The answers in a cache file; none while a running writer has created the file but not yet its table."""
    with sqlite3.connect(path) as db:
        try:
            return [row[0] for row in db.execute("SELECT text FROM answers")]
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise


def test_answers_in_order_and_key_only_in_header(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTUNE_TEST_KEY", "sk-secret-123")
    with FakeOpenAI() as server:
        client = _client(server, tmp_path, api_key_env="SEQTUNE_TEST_KEY")
        results = client.complete(_requests(["a", "b", "c"]))
        client.close()
    assert [r.text for r in results] == ["PARAPHRASE: a", "PARAPHRASE: b", "PARAPHRASE: c"]
    assert all(r.finish_reason == "stop" and r.ok for r in results)
    assert all(h.get("Authorization") == "Bearer sk-secret-123" for h in server.headers_seen)
    assert b"sk-secret" not in (tmp_path / "cache.sqlite").read_bytes()


def test_a_key_goes_only_to_the_server_it_is_named_for(monkeypatch):
    # the openai client reads these by itself and would send them to any base URL
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-server")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-not-for-this-server")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-private")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Api-Key: sk-custom\nAuthorization: Bearer sk-custom-auth")
    with FakeOpenAI() as server:
        _client(server).complete(_requests(["a"]))
    sent = json.dumps(server.headers_seen)
    assert server.headers_seen and "Authorization" not in server.headers_seen[0]
    assert "sk-" not in sent and "org-private" not in sent
    monkeypatch.delenv("SEQTUNE_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="SEQTUNE_TEST_KEY"):
        OpenAILM(LMSettings(backend="openai", model="m", api_key_env="SEQTUNE_TEST_KEY"))
    with pytest.raises(ConfigError, match="base_url 'localhost:8000/v1'"):
        OpenAILM(LMSettings(backend="openai", model="m", base_url="localhost:8000/v1"))


def test_a_key_echoed_in_an_error_body_is_masked(monkeypatch):
    key = "sk-" + "k" * 400  # longer than the part of an error body a message keeps: no prefix may survive
    monkeypatch.setenv("SEQTUNE_TEST_KEY", key)
    with FakeOpenAI(faults=["echo_key"]) as server:
        (result,) = _client(server, api_key_env="SEQTUNE_TEST_KEY").complete(_requests(["a"]))
    assert result.failure == "failed" and result.error.startswith("HTTP 401")
    assert "***" in result.error and "sk-kkk" not in result.error


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ("empty", "empty"),
        ("length", "truncated"),
        ("null_length", "truncated"),
        ("surrogate", "lone_surrogate"),
    ],
)
def test_unusable_answers_are_failures_never_cached(tmp_path, fault, failure):
    with FakeOpenAI(faults=[fault]) as server:
        client = _client(server, tmp_path)
        (result,) = client.complete(_requests(["a"]))
        client.close()
        assert not result.ok and result.failure == failure and result.text is None
        assert client.stats[f"rejected_{failure}"] == 1 and server.received == 1
        assert _cached_texts(tmp_path / "cache.sqlite") == []
        again = _client(server, tmp_path)
        (result,) = again.complete(_requests(["a"]))
        again.close()
    assert result.ok and not result.cached and server.received == 2


def test_generate_keeps_empty_and_cut_off_answers_but_never_a_lone_surrogate(tmp_path):
    with FakeOpenAI(faults=["empty", "length", "surrogate"]) as server:
        client = _client(server, tmp_path, reject_incomplete=False, concurrency=1)
        results = client.complete(_requests(["a", "b", "c"]))
    assert [r.text for r in results[:2]] == ["", "PARAPH"] and results[1].finish_reason == "length"
    assert results[2].failure == "lone_surrogate"


def test_an_unusable_answer_in_the_cache_is_asked_again(tmp_path):
    """A cache written by generate (which keeps empty answers) and read by augment (which must not)."""
    request = _requests(["a"])[0]
    with FakeOpenAI(faults=["empty"]) as server:
        generate = _client(server, tmp_path, reject_incomplete=False)
        assert generate.complete([request])[0].text == ""
        generate.close()
        (result,) = _client(server, tmp_path).complete([request])
    assert result.text == "PARAPHRASE: a" and not result.cached and server.received == 2


def test_retries_500_malformed_and_timeout():
    with FakeOpenAI(faults=["500", "malformed", "timeout"], timeout_sleep=1.0) as server:
        client = _client(server, concurrency=1, timeout_s=0.3)
        (result,) = client.complete(_requests(["hello"]))
    assert result.text == "PARAPHRASE: hello"
    assert server.received == 4 and client.stats["requests"] == 4 and client.stats["retries"] == 3


def test_429_waits_for_retry_after():
    with FakeOpenAI(faults=["429"], retry_after="1") as server:
        client = _client(server, concurrency=1)
        (result,) = client.complete(_requests(["x"]))
    assert result.ok and server.received == 2
    assert server.request_times[1] - server.request_times[0] >= 0.9


def test_gives_up_with_an_error_after_max_retries():
    with FakeOpenAI(faults=["500"] * 10) as server:
        client = _client(server, max_retries=2)
        (result,) = client.complete(_requests(["x"]))
    assert not result.ok and result.text is None and "HTTP 500" in result.error
    assert server.received == 3 and client.stats["failures"] == 1


def test_connection_refused_is_an_error_not_an_exception():
    settings = LMSettings(
        backend="openai", model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=0.5
    )
    (result,) = OpenAILM(settings).complete(_requests(["x"]))
    assert not result.ok and "connection" in result.error


def test_plain_completions_send_the_written_prompt_with_its_forced_start():
    with FakeOpenAI() as server:
        client = _client(server, endpoint="completions")
        request = Request(prompt="Q: hi\nA:", response_prefix=" The input is", decoding=Decoding(stop=("X",)))
        (result,) = client.complete([request])
    assert client.continues_prompt and not _client(server).continues_prompt
    (body,) = server.bodies
    assert body["prompt"] == "Q: hi\nA: The input is" and body["stop"] == ["X"] and "messages" not in body
    assert result.text == "PARAPHRASE: Q: hi\nA: The input is"


def test_identical_requests_are_asked_once_and_answers_arrive_as_they_come(tmp_path):
    arrived: list[int] = []
    with FakeOpenAI() as server:
        client = _client(server, tmp_path, concurrency=2)
        results = client.complete(
            _requests(["a", "b", "a", "c"]), on_done=lambda indices, _: arrived.extend(indices)
        )
        assert server.received == 3 and sorted(arrived) == [0, 1, 2, 3]
        arrived.clear()
        # a re-run: all four come from the cache, reported at once, before any request
        again = client.complete(
            _requests(["a", "b", "a", "c"]), on_done=lambda indices, _: arrived.append(indices)
        )
    assert arrived == [[0, 1, 2, 3]] and all(r.cached for r in again)
    assert [r.text for r in results] == [r.text for r in again] and server.received == 3


def test_cache_prevents_repeat_requests_across_runs(tmp_path):
    texts = [f"sentence {i}" for i in range(12)]
    with FakeOpenAI() as server:
        first = _client(server, tmp_path)
        first.complete(_requests(texts))
        first.close()
        assert server.received == 12
        second = _client(server, tmp_path)
        results = second.complete(_requests(texts + ["new one"]))
        second.close()
    assert server.received == 13  # only the new sentence was asked
    assert [r.cached for r in results] == [True] * 12 + [False]
    assert results[-1].text == "PARAPHRASE: new one"
    assert len(ResponseCache(tmp_path / "cache.sqlite")) == 13


@pytest.mark.parametrize("where", ["below_a_file", "a_folder", "not_a_cache"])
def test_a_cache_that_cannot_be_used_is_one_clear_error(tmp_path, where):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder.sqlite").mkdir()
    (tmp_path / "old.jsonl").write_text('{"key": "abc", "text": "an old JSONL cache"}\n')
    path = {"below_a_file": "file.txt/cache.sqlite", "a_folder": "folder.sqlite", "not_a_cache": "old.jsonl"}
    message = "not a seqtune answer cache" if where == "not_a_cache" else "cannot write"
    with pytest.raises(SeqtuneError, match=message):
        ResponseCache(tmp_path / path[where])


def test_an_image_rendered_anew_at_the_same_path_is_a_new_question(tmp_path):
    image = tmp_path / "COCO_val2014_000000000001.jpg"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"first drawing")
    lm = OpenAILM(LMSettings(backend="openai", model="m"))
    request = Request.chat("s", "What colour is the circle?", GREEDY, images=(str(image),))
    before = lm.cache_key(request)
    assert lm.cache_key(request) == before
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"a new drawing, other size")
    assert lm.cache_key(request) != before


def test_a_replay_answers_equal_prompts_of_two_examples_each_by_its_id():
    from seqtune.lm.responses import ResponsesLM

    # two CommonsenseQA examples may ask the very same question; each has its own response in the file
    lm = ResponsesLM({("q1", None): "A", ("q2", None): "C"}, path="responses.jsonl", model="other-system")
    question = Request.chat("", "Where would you find a revolving door?", GREEDY)
    asked = [dataclasses.replace(question, id=(qid, "plain")) for qid in ("q1", "q2")]
    assert [c.text for c in lm.complete(asked)] == ["A", "C"]


def test_cache_key_depends_on_model_messages_and_decoding():
    def key(model, user, temperature=0.0, endpoint="chat"):
        settings = LMSettings(backend="openai", model=model, endpoint=endpoint)
        return OpenAILM(settings).cache_key(Request.chat("s", user, Decoding(temperature=temperature)))

    keys = {
        key("m", "u"),
        key("m2", "u"),
        key("m", "u2"),
        key("m", "u", 0.7),
        key("m", "u", endpoint="completions"),
    }
    assert len(keys) == 5 and key("m", "u") == key("m", "u")
    request = Request.chat("s", "u", GREEDY)
    assert OpenAILM(LMSettings(backend="openai", model="m")).cache_key(request) == OpenAILM(
        LMSettings(backend="openai", model="m", base_url="http://elsewhere:1/v1")
    ).cache_key(dataclasses.replace(request, id=("q1", "plain"))), (
        "the server and the caller's id are not the answer"
    )


def test_every_failure_is_a_completion_never_a_crash_and_none_is_left_unanswered():
    class Silent(LM):
        name = "silent"

        def _complete(self, requests, done):
            done([0], [Completion("fine", "stop")])  # reports the first request only

    results = Silent("m").complete(_requests(["a", "b"]))
    assert results[0].text == "fine" and results[1].failure == "failed" and "no answer" in results[1].error


def test_the_settings_are_one_section_with_the_same_names_defaults_and_meanings_in_augment_and_generate():
    from seqtune.augment.config import AugmentConfig
    from seqtune.config import field_help
    from seqtune.generate.config import GenerateConfig

    shared = {f.name: f.default for f in dataclasses.fields(LMSettings)}
    for config in (AugmentConfig, GenerateConfig):
        fields = {f.name: f.default for f in dataclasses.fields(config)}
        assert {name: fields[name] for name in shared} == shared
        assert all(field_help(config)[name] == field_help(LMSettings)[name] for name in shared)
    assert {
        "model",
        "base_url",
        "api_key_env",
        "concurrency",
        "max_retries",
        "timeout_s",
        "cache_path",
    } <= set(shared)


def test_registry_builds_the_openai_client(tmp_path):
    settings = LMSettings(backend="openai", model="m", base_url="http://127.0.0.1:1/v1")
    lm = build_lm(settings, reject_incomplete=True, cache_path=str(tmp_path / "c.sqlite"))
    assert isinstance(lm, OpenAILM) and lm.url == "http://127.0.0.1:1/v1/chat/completions"
    lm.close()


def test_killed_run_resumes_without_asking_twice(tmp_path):
    output = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "seqtune.cli", "augment", str(SAMPLE), "--steps", "paraphrase"]
    command += ["--output", str(output), "--backend", "openai", "--model", "fake", "--concurrency", "4"]
    with_input = sum(r.has_input for r in iter_instruction_records(str(SAMPLE), ErrorPolicy()))
    cache = tmp_path / "out.cache.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with FakeOpenAI() as server:
        command += ["--base-url", server.base_url]
        server.answer_limit = 40  # the server stalls after 40 answers; then the run is killed
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (cache.exists() and len(_cached_texts(cache)) >= 40):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists()  # nothing half-written
        assert sum(server.answered.values()) == 40
        server.answer_limit = None
        server.released.set()
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    sequential = [r for r in records if r["kind"] == "sequential"]
    assert len(sequential) == len({r["source_id"] for r in sequential}) > 0
    assert all(r["steps"][0]["target"] == "PARAPHRASE: " + r["input"].strip() for r in sequential)
    assert max(server.answered.values()) == 1  # no input was answered twice
    assert sum(server.answered.values()) == len(server.answered) == len({r["input"] for r in sequential})
    assert len(sequential) == with_input


# ---- seq2seq translation models (lm/mt.py) and the multilingual set built with them ----

MT_LINES = [
    "Give three tips for staying healthy.",
    "Eat a balanced diet.",
    "The quick brown fox jumps over the lazy dog.",
    "Hello world",
    "What is the capital of France?",
    "Paris is the capital.",
    "Sort the list.",
    "1, 5, 3",
]
MT_LIMIT = 10


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory) -> Path:
    """A tiny MarianMT with random weights and a tokenizer trained here (nothing downloaded). A token that greedy
    decoding produces mid-way for some lines is made a second EOS, so some translations end within MT_LIMIT and
    others are cut off by it."""
    import collections

    import torch
    from transformers import MarianConfig, MarianMTModel

    from seqtune.tiny_model import train_tokenizer

    tokenizer = train_tokenizer(MT_LINES * 3, vocab_size=300)
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=None,
    )
    torch.manual_seed(0)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("marian") / "model"
    model.save_pretrained(folder)  # and read back: saving ties the embeddings the loop above set apart
    tokenizer.save_pretrained(folder)
    model = MarianMTModel.from_pretrained(folder)
    rows = [_reference_row(model, tokenizer, line) for line in MT_LINES]
    first = {row[0] for row in rows}
    seen = collections.Counter(token for row in rows for token in set(row[1 : MT_LIMIT - 1]))
    ending = next(t for t, n in seen.most_common() if t not in first and n < len(rows))
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, ending]
    model.save_pretrained(folder)
    return folder


def _reference_row(model, tokenizer, line: str) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(**tokenizer(line, return_tensors="pt"), max_new_tokens=MT_LIMIT)
    return out[0, 1:].tolist()


def _reference_translation(folder: Path, line: str) -> str | None:
    """What the model says for `line`, one line at a time; None when it is cut off by MT_LIMIT."""
    from transformers import AutoTokenizer, MarianMTModel

    model, tokenizer = MarianMTModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    row = _reference_row(model, tokenizer, line)
    eos = set(model.generation_config.eos_token_id)
    end = next((i for i, token in enumerate(row) if token in eos), None)
    return None if end is None else tokenizer.decode(row[:end], skip_special_tokens=True).strip()


def test_a_tiny_marian_model_translates_a_fixture_through_the_cache(tiny_marian, tmp_path, monkeypatch):
    from seqtune.lm.mt import Translator

    def translator():
        return Translator(
            str(tiny_marian),
            source_lang="en",
            target_lang="de",
            batch_size=3,
            cache_path=str(tmp_path / "c.sqlite"),
        )

    requests = [Request(prompt=line, decoding=Decoding(max_new_tokens=MT_LIMIT)) for line in MT_LINES]
    first = translator()
    answers = first.complete(requests)
    first.close()
    expected = [_reference_translation(tiny_marian, line) for line in MT_LINES]
    # an empty translation is no translation either
    assert [a.text if a.ok else None for a in answers] == [text or None for text in expected]
    assert {None, "truncated"} <= {a.failure for a in answers}, "the fixture should have both outcomes"
    monkeypatch.setattr(Translator, "_load", lambda *a, **k: pytest.fail("a cached re-run loaded the model"))
    again = translator()
    cached = again.complete([r for r, e in zip(requests, expected, strict=True) if e is not None])
    assert all(a.cached for a in cached) and [a.text for a in cached] == [
        e for e in expected if e is not None
    ]


def test_augment_builds_the_multilingual_set_with_the_translation_model(tiny_marian, tmp_path):
    from seqtune.augment.config import AugmentConfig
    from seqtune.augment.pipeline import run_augment
    from seqtune.config import build

    rows = [
        {"id": f"r{i}", "instruction": "Answer the question.", "input": line, "output": f"{line}\n\n{line}"}
        for i, line in enumerate(MT_LINES)
    ]
    rows.append({"id": "r9", "instruction": "Say hello.", "input": "", "output": MT_LINES[0]})
    data = tmp_path / "en.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    values = {
        "inputs": [str(data)],
        "output": str(tmp_path / "out.jsonl"),
        "steps": ["repeat"],
        "translate_to": ["de"],
        "mt_model": str(tiny_marian),
        "max_new_tokens": MT_LIMIT,
        "on_error": "skip",
        "cache_path": str(tmp_path / "answers.sqlite"),
    }
    summary = run_augment(build(AugmentConfig, values))
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    german = [r for r in records if r["lang"] == "de"]
    translated = {line: _reference_translation(tiny_marian, line) for line in MT_LINES}
    lines = {r["id"]: {r["input"], *r["output"].split("\n")} - {""} for r in rows}
    kept = [r for r in rows if all(translated[line] for line in lines[r["id"]])]
    assert 0 < len(kept) < len(rows), "the fixture should keep some records and refuse others"
    refused = [r for r in rows if r not in kept]
    assert sum(summary["skipped"].values()) == len(refused) and set(summary["skipped"]) <= {
        "mt_truncated",
        "mt_empty",
    }
    originals = {r["source_id"]: r for r in german if r["kind"] == "original"}
    assert sorted(originals) == sorted(f"de-{r['id']}" for r in kept)
    for row in kept:
        record = originals[f"de-{row['id']}"]
        assert record["instruction"] == row["instruction"]  # kept in English, as the paper did
        assert record["input"] == (translated[row["input"]] if row["input"] else "")
        assert record["output"] == "\n".join(
            translated[line] if line else "" for line in row["output"].split("\n")
        )
    for record in (r for r in german if r["kind"] == "sequential"):
        source = next(r for r in rows if f"de-{r['id']}" == record["source_id"])
        assert record["steps"] == [{"task": "translate", "target": source["input"]}]
        assert (
            record["instruction"].startswith("First translate")
            and "answer the question." in record["instruction"]
        )
    # a re-run takes every usable translation from the cache; the unusable ones are asked again, and refused again
    again = run_augment(build(AugmentConfig, {**values, "output": str(tmp_path / "again.jsonl")}))
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    assert again["skipped"] == summary["skipped"]
    usable = sum(1 for text in translated.values() if text)
    assert again["translation_calls"]["de"]["cache_hits"] == usable
    assert summary["translation_calls"]["de"]["cache_hits"] == 0


def test_translation_language_codes_follow_the_model_kind():
    """NLLB takes the source on the tokenizer and forces the target token; M2M100 the same with its own ids; a
    multi-target Marian model reads a >>lang<< token before the text; a one-pair Marian model needs nothing."""
    from seqtune.lm.mt import Translator

    class Marian:
        padding_side = "left"

        def __init__(self, vocabulary):
            self.vocabulary = vocabulary

        def get_vocab(self):
            return self.vocabulary

    class NLLB(Marian):
        src_lang = "eng_Latn"

    class M2M100(NLLB):
        def get_lang_id(self, code):
            return {"de": 7}[code]

    def setup(tokenizer, source="eng_Latn", target="deu_Latn"):
        translator = Translator(
            "m", source_lang=source, target_lang=target, network=object(), tokenizer=tokenizer
        )
        return translator._language_setup(), tokenizer

    (nllb, tokenizer) = setup(NLLB({"deu_Latn": 5, "eng_Latn": 4}), "eng_Latn", "deu_Latn")
    assert nllb == ("", 5) and tokenizer.src_lang == "eng_Latn" and tokenizer.padding_side == "right"
    assert setup(M2M100({}), "en", "de")[0] == ("", 7)
    assert setup(Marian({">>de<<": 3}), "en", "de")[0] == (">>de<< ", None)
    assert setup(Marian({"hallo": 3}), "en", "de")[0] == ("", None)
