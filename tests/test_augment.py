"""seqtune augment end to end: every step chain in both output formats, the no-input rule, verbalizations,
multilingual translate-then-answer (English instruction, disjoint languages, explicit steps), mixture, model
answers that must not become targets, the API-key policy, determinism and the manifest."""

import hashlib
import itertools
import json
import math
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from seqtune.augment.config import AugmentConfig
from seqtune.augment.pipeline import run_augment
from seqtune.config import build
from seqtune.data.vqa import target_caption
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.layout import manifest_path
from seqtune.sequential import compose_instruction, lower_first
from seqtune.steps import step_label, verbalizations

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src" / "seqtune" / "samples"
FIXTURES = Path(__file__).parent / "fixtures" / "augment"
IMAGES = FIXTURES / "image_records.jsonl"
PARALLEL_ZH = SAMPLES / "alpaca.en-zh.jsonl"
CAPTIONS = FIXTURES / "captions_mini.json"
ALL_STEPS = ["repeat", "paraphrase", "translate", "caption"]
CHAINS = [list(c) for n in range(1, 5) for c in itertools.permutations(ALL_STEPS, n)]


def _placeholder_free(text: str) -> bool:
    bare = "".join(ch for ch in text.lower() if ch.isalnum() or ch == "/")
    return bool(bare) and bare not in ("noinput", "none", "na", "n/a")


def _cached_texts(path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT text FROM answers")]


def _run(tmp_path, name="out.jsonl", **values):
    config = build(AugmentConfig, {"output": str(tmp_path / name), **values})
    summary = run_augment(config)
    return summary, [json.loads(line) for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.mark.parametrize("fmt", ["newline", "labelled"])
def test_every_chain_of_one_to_four_steps_round_trips(tmp_path, server, fmt):
    """All 64 ordered chains of 1-4 distinct steps: the output is the step targets then the answer, in the format."""
    captions = {  # the seeded caption of each image (image 139 has two)
        "img-1": target_caption(["A cat sitting on a sofa.", "Second caption."], 139, 0),
        "img-2": "A big brown bear.",
        "img-3": "A bedroom with a bed.",
        "img-4": "A big brown bear.",
    }
    for number, chain in enumerate(CHAINS):
        summary, records = _run(
            tmp_path,
            f"{fmt}-{number}.jsonl",
            inputs=[str(IMAGES)],
            steps=chain,
            output_format=fmt,
            captions=str(CAPTIONS),
            backend="openai",
            model="fake",
            base_url=server.base_url,
            include_original=False,
        )
        needs_input = chain != ["caption"]
        assert summary["written_sequential"] == (3 if needs_input else 4), chain
        for record in records:
            source = next(
                json.loads(line) for line in IMAGES.open() if json.loads(line)["id"] == record["source_id"]
            )
            expected = {
                "repeat": source["input"],
                "paraphrase": "PARAPHRASE: " + source["input"],
                "translate": source["input"],
                "caption": captions[source["id"]],
            }
            assert [s["task"] for s in record["steps"]] == chain
            assert [s["target"] for s in record["steps"]] == [expected[name] for name in chain]
            targets = [s["target"] for s in record["steps"]]
            if fmt == "newline":
                assert record["output"] == "\n".join([*targets, source["output"]])
            else:
                parts = [
                    f"{step_label(name)}:\n{target}" for name, target in zip(chain, targets, strict=True)
                ]
                assert record["output"] == "\n".join([*parts, "Answer:\n" + source["output"]])
            assert record["instruction"].startswith("First ") and record["final"] == source["output"]


def test_sample_default_run_matches_the_paper_rule(tmp_path):
    summary, records = _run(tmp_path, inputs=[str(SAMPLES / "alpaca.jsonl")])
    originals = [r for r in records if r["kind"] == "original"]
    sequential = [r for r in records if r["kind"] == "sequential"]
    source = [json.loads(line) for line in (SAMPLES / "alpaca.jsonl").open()]
    assert [(r["instruction"], r["input"], r["output"]) for r in originals] == [
        (s["instruction"], s["input"], s["output"]) for s in source
    ]
    with_input = {s["id"] for s in source if _placeholder_free(s["input"])}
    assert {r["source_id"] for r in sequential} == with_input
    assert summary["left_unchanged_no_input"] == len(source) - len(with_input)
    for record in sequential:
        assert record["instruction"].startswith("First repeat the input, then ")
        assert record["output"] == record["input"] + "\n" + record["final"]
        assert record["template"] == "repeat/paper" and record["id"] == record["source_id"] + ":repeat"
        assert list(record) == [
            "id",
            "source_id",
            "kind",
            "instruction",
            "input",
            "output",
            "steps",
            "final",
            "template",
            "lang",
        ]
    manifest = json.loads(manifest_path(tmp_path / "out.jsonl").read_text())
    assert manifest["stage"] == "augment" and manifest["counts"]["written"] == len(records)
    assert (
        list(manifest["inputs"].values())[0]
        == hashlib.sha256((SAMPLES / "alpaca.jsonl").read_bytes()).hexdigest()
    )


def test_same_config_and_seed_give_identical_bytes(tmp_path):
    values = {
        "inputs": [str(SAMPLES / "alpaca.jsonl")],
        "parallel": [str(PARALLEL_ZH)],
        "steps": ["repeat"],
        "verbalization": "seen",
        "mix": {"sequential/zh": 50, "original/*": 0.5},
        "seed": 7,
    }
    hashes = [
        hashlib.sha256(
            (_run(tmp_path, f"run{i}.jsonl", **values), (tmp_path / f"run{i}.jsonl").read_bytes())[1]
        ).hexdigest()
        for i in range(2)
    ]
    assert hashes[0] == hashes[1]
    _, other_seed = _run(tmp_path, "seed8.jsonl", **{**values, "seed": 8})
    assert hashlib.sha256((tmp_path / "seed8.jsonl").read_bytes()).hexdigest() != hashes[0]


def test_verbalization_pools_and_explicit_ids(tmp_path):
    _, records = _run(
        tmp_path, inputs=[str(SAMPLES / "alpaca.jsonl")], verbalization="seen", include_original=False
    )
    seen = {v.id: v.text for v in verbalizations("repeat", "seen")}
    used = {r["template"] for r in records}
    assert used <= set(seen) and len(used) > 1  # several seen phrasings, never an unseen one
    for record in records:
        assert record["instruction"].startswith(f"First {seen[record['template']]}, then ")
    _, unseen = _run(
        tmp_path,
        "unseen.jsonl",
        inputs=[str(SAMPLES / "alpaca.jsonl")],
        verbalization="unseen",
        include_original=False,
    )
    assert {r["template"] for r in unseen} <= {v.id for v in verbalizations("repeat", "unseen")}
    _, fixed = _run(
        tmp_path,
        "fixed.jsonl",
        inputs=[str(SAMPLES / "alpaca.jsonl")],
        verbalization="repeat/copy",
        include_original=False,
    )
    assert {r["template"] for r in fixed} == {"repeat/copy"}
    with pytest.raises(ConfigError):
        _run(
            tmp_path, "bad.jsonl", inputs=[str(SAMPLES / "alpaca.jsonl")], verbalization="repeat/nonexistent"
        )


def _pairs(path=PARALLEL_ZH):
    return {f"zh-{json.loads(line)['id']}": json.loads(line) for line in Path(path).open(encoding="utf-8")}


def test_multilingual_translate_then_answer_keeps_the_english_instruction(tmp_path):
    """The paper: "We keep the English instructions regardless of the input and output language"."""
    _, records = _run(tmp_path, parallel=[str(PARALLEL_ZH)], include_original=False)
    source = _pairs()
    assert len(records) == len(source)
    for record in records:
        pair = source[record["source_id"]]
        assert record["lang"] == "zh"
        assert record["instruction"] == "First translate the input into English, then " + lower_first(
            pair["en"]["instruction"]
        )
        assert record["output"] == pair["en"]["input"] + "\n" + pair["zh"]["output"]
        assert record["input"] == pair["zh"]["input"]


def test_native_instruction_on_request_and_originals_keep_theirs(tmp_path):
    _, records = _run(tmp_path, parallel=[str(PARALLEL_ZH)], parallel_instruction="native")
    source = _pairs()
    for record in records:
        pair = source[record["source_id"]]
        if record["kind"] == "sequential":
            assert (
                record["instruction"]
                == "First translate the input into English, then " + pair["zh"]["instruction"]
            )
        else:
            assert record["instruction"] == pair["zh"]["instruction"]


def _german_twin(tmp_path) -> Path:
    """An en-de file with the same ids as the en-zh sample (as ../shared/data's files share Alpaca's ids)."""
    path = tmp_path / "alpaca.en-de.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for pair in _pairs().values():
            german = {key: f"DE {value}" for key, value in pair["zh"].items()}
            handle.write(json.dumps({"id": pair["id"], "en": pair["en"], "de": german}) + "\n")
    return path


def test_languages_draw_disjoint_source_records(tmp_path):
    german = _german_twin(tmp_path)
    mix = {"sequential/zh": 40, "sequential/de": 40}
    summary, records = _run(tmp_path, parallel=[str(PARALLEL_ZH), str(german)], mix=mix)
    drawn = {}
    for record in records:
        if record["kind"] == "sequential":
            drawn.setdefault(record["lang"], set()).add(record["source_id"].split("-", 1)[1])
    assert len(drawn["zh"]) == len(drawn["de"]) == 40
    assert not drawn["zh"] & drawn["de"], "a source record was drawn for two languages"
    assert summary["mixture"]["sequential/zh"]["skipped_drawn_for_another_language"] > 0
    # every language's translated originals stay: the multilingual IT baseline
    assert summary["written_by_group"]["original/zh"] == summary["written_by_group"]["original/de"] == 150
    _, overlapping = _run(
        tmp_path, "shared.jsonl", parallel=[str(PARALLEL_ZH), str(german)], mix=mix, parallel_disjoint=False
    )
    ids = [r["source_id"].split("-", 1)[1] for r in overlapping if r["kind"] == "sequential"]
    assert len(ids) == 80 and len(set(ids)) < 80  # 40 of 150 twice: sharing is all but certain


def test_english_steps_must_be_named_when_parallel_data_is_given(tmp_path):
    """No silent repeat records when only translation was asked for."""
    values = {"inputs": [str(SAMPLES / "alpaca.jsonl")], "parallel": [str(PARALLEL_ZH)]}
    with pytest.raises(ConfigError, match="name the steps"):
        _run(tmp_path, **values)
    summary, records = _run(tmp_path, steps=[], **values)
    assert {r["steps"][0]["task"] for r in records if r["kind"] == "sequential"} == {"translate"}
    assert summary["written_by_group"] == {"original/en": 400, "original/zh": 150, "translate/zh": 150}
    assert summary["no_steps_asked"] == 400
    summary, _ = _run(tmp_path, "both.jsonl", steps=["repeat"], **values)
    assert summary["written_by_group"]["repeat/en"] == 400 - summary["left_unchanged_no_input"]


def test_parallel_files_aligned_by_position(tmp_path):
    pairs = [json.loads(line) for line in (SAMPLES / "alpaca.en-zh.jsonl").open()][:20]
    (tmp_path / "alpaca.en.json").write_text(json.dumps([p["en"] for p in pairs]), encoding="utf-8")
    (tmp_path / "alpaca.zh.json").write_text(
        json.dumps([p["zh"] for p in pairs], ensure_ascii=False), encoding="utf-8"
    )
    _, records = _run(
        tmp_path,
        parallel_english=str(tmp_path / "alpaca.en.json"),
        parallel_aligned=[str(tmp_path / "alpaca.zh.json")],
        include_original=False,
    )
    assert [r["steps"][0]["target"] for r in records] == [p["en"]["input"] for p in pairs]
    assert {r["lang"] for r in records} == {"zh"}


def test_mixture_counts_fractions_and_all_english(tmp_path):
    summary, records = _run(
        tmp_path,
        inputs=[str(SAMPLES / "alpaca.jsonl")],
        parallel=[str(PARALLEL_ZH)],
        steps=["repeat"],
        mix={"sequential/zh": 40, "original/zh": 0, "sequential/en": 0.5},
    )
    groups = {}
    for record in records:
        groups.setdefault(f"{record['kind']}/{record['lang']}", []).append(record)
    assert len(groups["sequential/zh"]) == 40 and "original/zh" not in groups
    assert len(groups["original/en"]) == 400  # not named in mix → all kept
    available = summary["mixture"]["sequential/en"]["available"]
    assert len(groups["sequential/en"]) == round(available * 0.5)
    assert [r["id"] for r in records] != sorted(r["id"] for r in records)  # shuffled


def test_model_failures_are_reported_not_dropped(tmp_path):
    with FakeOpenAI(faults=["500"] * 1000) as fake:
        values = {
            "inputs": [str(IMAGES)],
            "steps": ["paraphrase"],
            "backend": "openai",
            "model": "fake",
            "base_url": fake.base_url,
            "max_retries": 0,
        }
        with pytest.raises(SeqtuneError, match="no usable model answer"):
            _run(tmp_path, **values)
        summary, records = _run(tmp_path, "skip.jsonl", on_error="skip", **values)
    assert summary["skipped"] == {"model_failed": 3}
    assert summary["written_sequential"] == 0 and summary["written_original"] == 4


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("Identify the odd one out.", "identify the odd one out."),
        ("I want a poem.", "I want a poem."),
        ("SQL query for users", "SQL query for users"),
        ("iPhone review", "iPhone review"),
        ("JavaScript: explain closures", "JavaScript: explain closures"),
        ("English is hard; explain why", "English is hard; explain why"),
        ("Is this correct?", "is this correct?"),
        ('"Quote" this', '"Quote" this'),
        ("", ""),
        ("Ünïcode start", "ünïcode start"),
    ],
)
def test_first_letter_lowercased_only_where_right(instruction, expected):
    assert lower_first(instruction) == expected


def test_compose_instruction_chains():
    assert compose_instruction([], "Do it.") == "Do it."
    assert compose_instruction(["repeat the input", "paraphrase the input"], "Answer {x}.") == (
        "First repeat the input, then paraphrase the input, then answer {x}."
    )


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="output"):
        build(AugmentConfig, {"inputs": ["a.json"]})
    with pytest.raises(ConfigError, match="mix"):
        build(AugmentConfig, {"inputs": ["a.json"], "output": "o.jsonl", "mix": {"sequential": 3}})
    with pytest.raises(ConfigError, match="unknown step"):
        run_augment(
            build(
                AugmentConfig,
                {"inputs": [str(IMAGES)], "output": str(tmp_path / "o.jsonl"), "steps": ["dance"]},
            )
        )
    assert not (tmp_path / "o.jsonl").exists()
    bank = tmp_path / "bank.json"
    bank.write_text('{"repeat": {"label": "Repetition", "verbalizations": 3}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bank\.json: step 'repeat': expected"):
        run_augment(
            build(
                AugmentConfig,
                {"inputs": [str(IMAGES)], "output": str(tmp_path / "o.jsonl"), "template_bank": str(bank)},
            )
        )
    with pytest.raises(ConfigError, match="is the output"):
        build(AugmentConfig, {"inputs": ["a.json"], "output": "o.jsonl", "cache_path": "./o.jsonl"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_new_tokens", 0, "max_new_tokens"),
        ("temperature", -0.5, "temperature"),
        ("temperature", math.nan, "temperature"),
        ("temperature", math.inf, "temperature"),
        ("timeout_s", 0, "timeout_s"),
        ("timeout_s", -3, "timeout_s"),
        ("timeout_s", math.nan, "timeout_s"),
        ("mix", {"sequential/zh": math.nan}, "mix"),
        ("mix", {"sequential/zh": math.inf}, "mix"),
    ],
)
def test_model_and_mixture_numbers_are_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        build(AugmentConfig, {"inputs": ["a.json"], "output": "o.jsonl", key: value})


def test_empty_and_cut_off_answers_are_neither_used_nor_cached(tmp_path):
    rows = [
        {"instruction": "Fix it.", "input": f"sentence {name}", "output": "ok"}
        for name in ("good", "empty", "cut")
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    values = {
        "inputs": [str(data)],
        "steps": ["paraphrase"],
        "backend": "openai",
        "model": "fake",
        "on_error": "skip",
        "include_original": False,
    }
    with FakeOpenAI(faults_for={"sentence empty": "empty", "sentence cut": "length"}) as fake:
        summary, records = _run(tmp_path, base_url=fake.base_url, **values)
        assert [r["steps"][0]["target"] for r in records] == ["PARAPHRASE: sentence good"]
        assert summary["skipped"] == {"model_empty": 1, "model_truncated": 1}
        assert summary["model_calls"]["rejected_empty"] == summary["model_calls"]["rejected_truncated"] == 1
        assert _cached_texts(tmp_path / "out.cache.sqlite") == ["PARAPHRASE: sentence good"]
        fake.faults_for = {}
        summary, records = _run(tmp_path, base_url=fake.base_url, **values)
    assert len(records) == 3 and summary["skipped"] == {}
    assert sorted(fake.answered.values()) == [1, 2, 2]  # only the two rejected answers were asked again


def test_a_lone_surrogate_in_an_answer_is_skipped_and_counted(tmp_path):
    with FakeOpenAI(faults_for={"": "surrogate"}) as fake:
        summary, records = _run(
            tmp_path,
            inputs=[str(IMAGES)],
            steps=["paraphrase"],
            backend="openai",
            model="fake",
            base_url=fake.base_url,
            on_error="skip",
        )
    assert summary["skipped"] == {"model_lone_surrogate": 3} and summary["written_sequential"] == 0
    assert _cached_texts(tmp_path / "out.cache.sqlite") == []


SECRET = "sk-augment-secret-42"


def _paraphrase_values(fake, **extra):
    return {
        "inputs": [str(IMAGES)],
        "steps": ["paraphrase"],
        "backend": "openai",
        "model": "fake",
        "base_url": fake.base_url,
        **extra,
    }


def test_no_api_key_is_sent_unless_its_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("MY_SERVER_KEY", SECRET)
    with FakeOpenAI() as fake:
        _run(tmp_path, **_paraphrase_values(fake))
        assert fake.headers_seen and all("Authorization" not in h for h in fake.headers_seen)
        _run(
            tmp_path,
            "named.jsonl",
            **_paraphrase_values(fake, api_key_env="MY_SERVER_KEY", cache_path=str(tmp_path / "named.cache")),
        )
        assert fake.headers_seen[-1]["Authorization"] == f"Bearer {SECRET}"
    monkeypatch.delenv("MY_SERVER_KEY")
    with FakeOpenAI() as fake, pytest.raises(ConfigError, match="MY_SERVER_KEY"):
        _run(tmp_path, "unset.jsonl", **_paraphrase_values(fake, api_key_env="MY_SERVER_KEY"))


def test_a_key_echoed_by_the_server_is_masked_in_errors_and_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", SECRET)
    with FakeOpenAI(faults_for={"": "echo_key"}) as fake:
        values = _paraphrase_values(fake, api_key_env="MY_SERVER_KEY")
        with pytest.raises(SeqtuneError) as failure:
            _run(tmp_path, **values)
        assert "HTTP 401" in str(failure.value) and SECRET not in str(failure.value)
        summary, _ = _run(tmp_path, "skip.jsonl", on_error="skip", **values)
    assert summary["skipped"] == {"model_failed": 3} and "***" in summary["first_errors"][0]
    for written in tmp_path.iterdir():
        assert SECRET.encode() not in written.read_bytes(), f"the key leaked into {written.name}"


# ---- VQA sources: IT and SIT records with images (issue 8) ----


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from seqtune.shapeworld import build_shapeworld

    root = tmp_path_factory.mktemp("shapeworld")
    build_shapeworld(root, seed=0, train_images=6, val_images=1)
    return root


def _vqa_values(shapes: Path, **extra) -> dict:
    return {
        "vqa": [str(shapes / "vqav2_train")],
        "captions": str(shapes / "captions" / "captions_train2014.json"),
        "image_root": str(shapes / "images"),
        "seed": 5,
        **extra,
    }


def test_vqa_sources_give_it_and_sit_records_with_their_images(tmp_path, shapes):
    from seqtune.data.vqa import instruction_records, read_captions, read_vqav2

    summary, records = _run(tmp_path, **_vqa_values(shapes))
    questions = read_vqav2(shapes / "vqav2_train")
    captions = read_captions(shapes / "captions" / "captions_train2014.json")
    it, sit, _ = instruction_records(questions, captions, seed=5, image_root=str(shapes / "images"))
    assert records == [record for pair in zip(it, sit, strict=True) for record in pair]  # IT, then its SIT
    assert records[1]["instruction"] == (
        "First describe the image, then answer the input question based on the image"
    )
    assert all(Path(record["image"]).is_file() for record in records)
    assert summary["read"] == len(questions) and summary["written_by_group"] == {
        "caption/en": len(questions),
        "original/en": len(questions),
    }
    assert (
        summary["vqa"] == {"questions": len(questions), "drawn": len(questions)} and summary["skipped"] == {}
    )
    manifest = json.loads(manifest_path(tmp_path / "out.jsonl").read_text())
    assert manifest["counts"]["vqa"] == summary["vqa"]
    assert str(shapes / "vqav2_train" / "v2_mscoco_train2014_annotations.json") in manifest["inputs"]
    # the seed draws the caption: another seed gives another one for some image
    _, other = _run(tmp_path, "other.jsonl", **_vqa_values(shapes, seed=6))
    assert [r["output"] for r in other] != [r["output"] for r in records]


def test_vqa_sample_draws_seeded_questions_in_source_order(tmp_path, shapes):
    from seqtune.data.vqa import read_vqav2

    order = [q.question_id for q in read_vqav2(shapes / "vqav2_train")]
    drawn = []
    for name, seed in (("a.jsonl", 1), ("b.jsonl", 1), ("c.jsonl", 2)):
        summary, records = _run(tmp_path, name, **_vqa_values(shapes, vqa_sample=4, seed=seed))
        ids = [r["source_id"] for r in records if r["kind"] == "original"]
        assert len(ids) == 4 and ids == sorted(ids, key=order.index) and summary["read"] == 4
        drawn.append(ids)
    assert drawn[0] == drawn[1] != drawn[2]
    assert summary["vqa"]["questions"] == len(order) and summary["vqa"]["drawn"] == 4


def test_vqa_without_a_caption_or_originals(tmp_path, shapes):
    summary, records = _run(tmp_path, **_vqa_values(shapes, captions=None))
    assert {r["kind"] for r in records} == {"original"}
    assert summary["vqa"]["no_caption"] == summary["read"] == len(records)
    _, records = _run(tmp_path, "sit.jsonl", **_vqa_values(shapes, include_original=False))
    assert {r["kind"] for r in records} == {"sequential"}


def test_a_missing_or_unreadable_image_is_named_or_skipped_and_counted(tmp_path, shapes):
    from seqtune.data.vqa import read_vqav2

    images = tmp_path / "images"
    shutil.copytree(shapes / "images", images)
    files = sorted((images / "train2014").iterdir())
    files[0].unlink()
    files[1].write_bytes(b"not an image")
    values = _vqa_values(shapes, image_root=str(images))
    with pytest.raises(SeqtuneError, match=f"{re.escape(str(files[0]))}: .*not found"):
        _run(tmp_path, **values)
    assert not (tmp_path / "out.jsonl").exists()
    summary, records = _run(tmp_path, **values, on_error="skip")
    asked = Counter(q.image for q in read_vqav2(shapes / "vqav2_train"))
    assert summary["skipped"] == {
        "missing_image": asked[f"train2014/{files[0].name}"],
        "unreadable_image": asked[f"train2014/{files[1].name}"],
    }
    assert summary["read"] == sum(asked.values()) and summary["written_original"] == summary["read"] - sum(
        summary["skipped"].values()
    )
    assert str(files[1]) in summary["first_errors"][-1]
    assert {r["image"] for r in records}.isdisjoint({str(files[0]), str(files[1])})


def test_vqa_needs_an_image_root_and_the_papers_phrasing(tmp_path, shapes):
    with pytest.raises(ConfigError, match="'vqa' needs 'image_root'"):
        build(AugmentConfig, {"output": str(tmp_path / "o.jsonl"), **_vqa_values(shapes, image_root=None)})
    with pytest.raises(ConfigError, match="VQA records use the paper's phrasing"):
        build(
            AugmentConfig, {"output": str(tmp_path / "o.jsonl"), **_vqa_values(shapes, verbalization="all")}
        )


def test_caption_step_takes_the_seeded_caption_from_any_captions_format(tmp_path):
    chosen = set()
    for seed in range(8):
        _, records = _run(
            tmp_path,
            f"{seed}.jsonl",
            inputs=[str(IMAGES)],
            steps=["caption"],
            captions=str(CAPTIONS),
            include_original=False,
            seed=seed,
        )
        target = records[0]["steps"][0]["target"]  # img-1: image 139, two captions
        assert target == target_caption(["A cat sitting on a sofa.", "Second caption."], 139, seed)
        chosen.add(target)
    assert len(chosen) == 2  # not always the first caption
    karpathy = tmp_path / "karpathy.json"
    karpathy.write_text(
        json.dumps(
            {
                "images": [
                    {"cocoid": 139, "split": "train", "sentences": [{"raw": "A cat on a couch."}]},
                    {"cocoid": 285, "split": "val", "sentences": [{"raw": "A bear."}]},
                ]
            }
        ),
        encoding="utf-8",
    )
    summary, records = _run(
        tmp_path,
        "karpathy.jsonl",
        inputs=[str(IMAGES)],
        steps=["caption"],
        captions=str(karpathy),
        caption_split="train",
        include_original=False,
        on_error="skip",
    )
    assert [r["steps"][0]["target"] for r in records] == ["A cat on a couch."]
    assert summary["skipped"] == {"no_caption": 3}  # 285 is in the val split; 632 has none
