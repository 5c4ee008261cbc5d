"""seqtune augment end to end: compose/parse round trips over step chains, the no-input rule, verbalizations,
multilingual translate-then-answer, mixture, determinism and the manifest."""

import hashlib
import itertools
import json
import sys
from pathlib import Path

import pytest

from seqtune.augment.compose import compose_instruction, lower_first
from seqtune.augment.config import AugmentConfig
from seqtune.augment.pipeline import run_augment
from seqtune.config import build
from seqtune.errors import ConfigError
from seqtune.parse import parse_response
from seqtune.steps import verbalizations

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "augment"))
from fake_openai import FakeOpenAI  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src" / "seqtune" / "samples"
FIXTURES = Path(__file__).parent / "fixtures" / "augment"
IMAGES = FIXTURES / "image_records.jsonl"
CAPTIONS = FIXTURES / "captions_mini.json"
ALL_STEPS = ["repeat", "paraphrase", "translate", "caption"]
CHAINS = [list(c) for n in range(1, 5) for c in itertools.permutations(ALL_STEPS, n)]


def _placeholder_free(text: str) -> bool:
    bare = "".join(ch for ch in text.lower() if ch.isalnum() or ch == "/")
    return bool(bare) and bare not in ("noinput", "none", "na", "n/a")


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
    """All 64 ordered chains of 1-4 distinct steps: the output parses back into the step targets and the answer."""
    captions = {
        "img-1": "A cat sitting on a sofa.",
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
            provider_model="fake",
            provider_base_url=server.base_url,
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
            parsed = parse_response(
                record["output"], chain, fmt, segment_lines=[t.count("\n") + 1 for t in targets]
            )
            assert parsed.segments == targets and parsed.final == source["output"] and parsed.complete
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
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stage"] == "augment" and manifest["counts"]["written"] == len(records)
    assert (
        list(manifest["inputs"].values())[0]
        == hashlib.sha256((SAMPLES / "alpaca.jsonl").read_bytes()).hexdigest()
    )


def test_same_config_and_seed_give_identical_bytes(tmp_path):
    values = {
        "inputs": [str(SAMPLES / "alpaca.jsonl")],
        "parallel": [str(SAMPLES / "alpaca.en-zh.jsonl")],
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


def test_multilingual_translate_then_answer(tmp_path):
    _, records = _run(tmp_path, parallel=[str(SAMPLES / "alpaca.en-zh.jsonl")], include_original=False)
    source = {
        f"zh-{json.loads(line)['id']}": json.loads(line) for line in (SAMPLES / "alpaca.en-zh.jsonl").open()
    }
    assert len(records) == len(source)
    for record in records:
        pair = source[record["source_id"]]
        assert record["lang"] == "zh"
        assert (
            record["instruction"]
            == "First translate the input into English, then " + pair["zh"]["instruction"]
        )
        assert record["output"] == pair["en"]["input"] + "\n" + pair["zh"]["output"]
        assert record["input"] == pair["zh"]["input"]


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
        parallel=[str(SAMPLES / "alpaca.en-zh.jsonl")],
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


def test_provider_failures_are_reported_not_dropped(tmp_path):
    with FakeOpenAI(faults=["500"] * 1000) as fake:
        values = {
            "inputs": [str(IMAGES)],
            "steps": ["paraphrase"],
            "provider_model": "fake",
            "provider_base_url": fake.base_url,
            "provider_max_retries": 0,
        }
        from seqtune.errors import SeqtuneError

        with pytest.raises(SeqtuneError, match="provider failed"):
            _run(tmp_path, **values)
        summary, records = _run(tmp_path, "skip.jsonl", on_error="skip", **values)
    assert summary["skipped"] == {"provider_failed": 3}
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


def test_config_validation():
    with pytest.raises(ConfigError, match="output"):
        build(AugmentConfig, {"inputs": ["a.json"]})
    with pytest.raises(ConfigError, match="mix"):
        build(AugmentConfig, {"inputs": ["a.json"], "output": "o.jsonl", "mix": {"sequential": 3}})
    with pytest.raises(ConfigError, match="unknown step"):
        run_augment(
            build(AugmentConfig, {"inputs": [str(IMAGES)], "output": "/tmp/x/o.jsonl", "steps": ["dance"]})
        )
