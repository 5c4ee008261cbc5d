"""Generation with images: the local InstructBLIP back-end (lm/hf_vlm.py) on a tiny InstructBLIP built here (nothing
downloaded), generate on ShapeWorld's VQAv2 files, and images and forced starts through the OpenAI-compatible
back-end against the suite's fake server."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from seqtune.cli import main
from seqtune.config import build
from seqtune.errors import ConfigError
from seqtune.generate.config import GenerateConfig
from seqtune.generate.pipeline import run_generate
from seqtune.lm.base import Decoding, Request
from seqtune.lm.openai_http import OpenAILM
from seqtune.lm.settings import LMSettings, build_lm

INSTRUCTION = "Answer the input question based on the image"
QUESTIONS = [
    "What colour is the circle?",
    "Is there a triangle?",
    "How many squares are there in the picture?",
]
GREEDY = Decoding(max_new_tokens=6)
SECRET = "sk-vlm-test-secret"
CSQA = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples" / "commonsense_qa.dev.jsonl"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """ShapeWorld: 3 training and 4 validation images (PNG data under COCO's .jpg names) in the VQAv2 format."""
    from seqtune.shapeworld import build_shapeworld

    out = tmp_path_factory.mktemp("world")
    build_shapeworld(out, train_images=3, val_images=4)
    return out


@pytest.fixture(scope="module")
def images(world) -> list[str]:
    return [str(path) for path in sorted((world / "images" / "val2014").iterdir())]


@pytest.fixture(scope="module")
def blip(torch, tmp_path_factory) -> Path:
    """A tiny InstructBLIP (a plain model folder: config.json model_type instructblip) whose language model and
    Q-Former have large random weights, so that answers depend on the prompt, the image and the Q-Former's text
    (with the usual 0.02 init every image gives the same answer)."""
    from transformers import InstructBlipForConditionalGeneration

    from seqtune.prompts import get_template
    from seqtune.tiny_model import TinyBlipSpec, TinySpec, build_tiny_instructblip

    template = get_template("alpaca")
    texts = [template.prompt_input, template.prompt_no_input, INSTRUCTION, *QUESTIONS] * 3
    spec = TinyBlipSpec(
        text=TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    )
    folder = build_tiny_instructblip(tmp_path_factory.mktemp("blip") / "model", texts, spec)
    model = InstructBlipForConditionalGeneration.from_pretrained(folder)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("language_model.", "language_projection.")):
                parameter.normal_(0, 0.5)
            elif name.startswith("qformer.") and parameter.dim() > 1:
                parameter.normal_(0, 0.3)
    model.save_pretrained(folder)
    return folder


def _lm(blip, **options):
    from seqtune.lm.hf_vlm import HFVisionLM

    return HFVisionLM(str(blip), reject_incomplete=False, **options)


def _prompt(question: str) -> str:
    from seqtune.prompts import get_template

    return get_template("alpaca").render(INSTRUCTION, question)


def _reference(lm, prompt: str, image: str, prefix: str = "") -> str:
    """The answer written out by hand with the processor's own layout (`<image>` tokens, BOS, the prompt and the
    forced start; the Q-Former reads the prompt without it): the new tokens after the prompt, decoded."""
    import torch
    from PIL import Image

    processor, network = lm.processor, lm.network
    inputs = processor(images=Image.open(image).convert("RGB"), text=prompt + prefix, return_tensors="pt")
    qformer = processor.qformer_tokenizer(prompt, return_tensors="pt")
    inputs.update(qformer_input_ids=qformer["input_ids"], qformer_attention_mask=qformer["attention_mask"])
    with torch.inference_mode():
        output = network.generate(**inputs, max_new_tokens=GREEDY.max_new_tokens, do_sample=False)
    return processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def _requests(images: list[str]) -> list[Request]:
    """Prompts of different lengths on different images, one with a forced start (batches are left-padded)."""
    return [
        Request(
            prompt=_prompt(QUESTIONS[i % 3]),
            images=(images[i % len(images)],),
            response_prefix=" A red circle." if i == 4 else "",
            decoding=GREEDY,
        )
        for i in range(7)
    ]


# ---- the local back-end ----


def test_batched_generation_equals_one_at_a_time_and_is_only_the_new_tokens(blip, images):
    requests = _requests(images)
    batched = _lm(blip, batch_size=4).complete(requests)
    single = _lm(blip, batch_size=1).complete(requests)
    assert all(c.ok for c in batched)
    assert [(c.text, c.finish_reason) for c in batched] == [(c.text, c.finish_reason) for c in single]
    assert len({c.text for c in batched}) > 2  # the answers differ: the test compares something
    lm = _lm(blip)
    for request, completion in zip(requests[:3], batched, strict=False):
        assert completion.text == _reference(lm, request.prompt, request.images[0])


def test_the_image_decides_the_answer(blip, images):
    request = Request(prompt=_prompt(QUESTIONS[0]), decoding=GREEDY)
    answers = _lm(blip).complete([replace(request, images=(image,)) for image in images])
    assert len({answer.text for answer in answers}) > 1


def test_a_forced_start_is_read_by_the_model_and_not_part_of_the_answer(blip, images):
    lm = _lm(blip)
    prefix = " A red circle and two blue squares.\n"
    request = Request(
        prompt=_prompt(QUESTIONS[1]), images=(images[0],), response_prefix=prefix, decoding=GREEDY
    )
    forced, free = lm.complete([request, replace(request, response_prefix="")])
    assert lm.prompt_text(request).endswith(prefix) and not forced.text.startswith(prefix.strip())
    assert forced.text == _reference(lm, request.prompt, images[0], prefix)
    assert forced.text != free.text


def test_a_missing_or_unreadable_image_fails_that_request_only(blip, images, tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not an image", encoding="utf-8")
    missing = str(tmp_path / "missing.jpg")
    request = Request(prompt=_prompt(QUESTIONS[0]), images=(images[0],), decoding=GREEDY)
    lm = _lm(blip, batch_size=3)
    good, gone, broken, none = lm.complete(
        [
            request,
            replace(request, images=(missing,)),
            replace(request, images=(str(not_an_image),)),
            replace(request, images=()),
        ]
    )
    assert good.ok and good.text == _reference(lm, request.prompt, images[0])
    assert not gone.ok and gone.error == f"image not found: {missing}"
    assert not broken.ok and str(not_an_image) in broken.error
    assert not none.ok and "one image per request" in none.error
    assert lm.stats["failures"] == 3


def test_backend_hf_picks_the_vision_back_end_by_the_model(blip, tiny_model):
    from seqtune.lm.hf import HFCausalLM
    from seqtune.lm.hf_vlm import HFVisionLM, is_vision_model

    vision = build_lm(LMSettings(model=str(blip)), reject_incomplete=True, cache_path=None)
    text = build_lm(LMSettings(model=str(tiny_model)), reject_incomplete=True, cache_path=None)
    assert type(vision) is HFVisionLM and type(text) is HFCausalLM
    assert vision._network is None  # chosen from config.json, nothing loaded yet
    assert not is_vision_model(
        "no-such-org/no-such-model"
    )  # offline and not cached: left to the text back-end
    with pytest.raises(ConfigError, match="adapter"):
        build_lm(
            LMSettings(model=str(blip), adapter=str(tiny_model)), reject_incomplete=True, cache_path=None
        )


# ---- generate ----


def _generate(world, output, **overrides) -> GenerateConfig:
    values = {
        "task": "vqav2",
        "data": str(world / "vqav2_val"),
        "output": str(output),
        "limit": 3,
        "variants": ["plain", "caption-neg"],
        "max_new_tokens": GREEDY.max_new_tokens,
        "task_options": {
            "image_root": str(world / "images"),
            "captions": str(world / "captions" / "captions_train2014.json"),
        },
    }
    return build(GenerateConfig, {**values, **overrides})


def test_generate_shows_each_prediction_its_image(blip, world, tmp_path):
    path = run_generate(_generate(world, tmp_path / "run", model=str(blip)))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 6 and all(Path(r["image"]).is_file() for r in records)
    neg = [r for r in records if r["variant"] == "caption-neg"]
    assert all(r["response_prefix"] and r["prompt"].endswith(r["response_prefix"]) for r in neg)
    lm = _lm(blip)
    other_image = next(
        p for p in map(str, (world / "images" / "val2014").iterdir()) if p != records[0]["image"]
    )
    for record in records:
        prompt = record["prompt"][: len(record["prompt"]) - len(record["response_prefix"])]
        assert record["response"] == _reference(lm, prompt, record["image"], record["response_prefix"])
    # the image shown is the prediction's: another image gives another answer
    assert records[0]["response"] != _reference(lm, records[0]["prompt"], other_image)


def test_a_seqtune_trained_model_loads_its_weights_and_uses_its_saved_template(blip, world, tmp_path, torch):
    """A `seqtune train` output (seqtune_model.json, trainable.safetensors, its prompt template) is generated
    from as trained: the trained Q-Former on the base model, prompted with the saved template."""
    import shutil

    from safetensors.torch import save_file

    from seqtune.prompts import PromptTemplate
    from seqtune.train.instructblip import MODEL_FILE, WEIGHTS_FILE

    trained = tmp_path / "trained"
    shutil.copytree(blip, trained, ignore=shutil.ignore_patterns("model.safetensors"))
    torch.manual_seed(1)
    config = json.loads((blip / "config.json").read_text(encoding="utf-8"))
    shape = (1, config["num_query_tokens"], config["qformer_config"]["hidden_size"])
    state = {"query_tokens": torch.randn(*shape)}
    save_file(state, str(trained / WEIGHTS_FILE))
    (trained / MODEL_FILE).write_text(
        json.dumps(
            {
                "family": "instructblip",
                "base_model": str(blip),
                "weights": WEIGHTS_FILE,
                "trained": sorted(state),
            }
        ),
        encoding="utf-8",
    )
    PromptTemplate(
        "short", prompt_input="Q: {input}\n{instruction}\nA:", prompt_no_input="{instruction}\nA:"
    ).save(trained)
    path = run_generate(_generate(world, tmp_path / "run", model=str(trained), variants=["plain"]))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(r["prompt_template"] == "short" and r["prompt"].startswith("Q: ") for r in records)
    trained_lm, base_lm = _lm(trained), _lm(blip)
    assert torch.equal(trained_lm.network.query_tokens, state["query_tokens"])
    answers = [r["response"] for r in records]
    assert answers == [_reference(trained_lm, r["prompt"], r["image"]) for r in records]
    assert answers != [_reference(base_lm, r["prompt"], r["image"]) for r in records]


def test_images_and_the_back_end_must_match_one_line_errors(blip, tiny_model, world, tmp_path, capsys):
    # a text-only model on a task with images
    args = [
        "generate",
        "task=vqav2",
        f"data={world / 'vqav2_val'}",
        f"model={tiny_model}",
        f"output={tmp_path / 'a'}",
    ]
    assert main([*args, f"task_options={{image_root: {world / 'images'}}}"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "shows the model an image" in error and "text only" in error
    # InstructBLIP needs an image with every prompt
    with pytest.raises(ConfigError, match="reads an image with every prompt"):
        run_generate(
            _generate(
                world,
                tmp_path / "b",
                model=str(blip),
                task="commonsense_qa",
                data=str(CSQA),
                variants=["plain"],
                task_options={},
            )
        )
    # relative image names and no image_root: the images cannot be found
    with pytest.raises(ConfigError, match="image_root"):
        run_generate(_generate(world, tmp_path / "c", model=str(blip), task_options={}))
    assert not (tmp_path / "c" / "predictions.jsonl").exists()


# ---- the OpenAI-compatible back-end ----


def _client(server, **settings) -> OpenAILM:
    values = {"backend": "openai", "model": "served-vlm", "base_url": server.base_url, "max_retries": 1}
    return OpenAILM(LMSettings(**{**values, **settings}), reject_incomplete=False)


def test_http_sends_images_as_data_uris_and_the_key_only_in_its_header(images, tmp_path, monkeypatch):
    monkeypatch.setenv("VLM_SERVER_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-sent")
    request = Request.chat("", QUESTIONS[0], GREEDY, images=(images[1],))
    with FakeOpenAI() as server:
        client = _client(server, api_key_env="VLM_SERVER_KEY", concurrency=2)
        sent, missing = client.complete([request, replace(request, images=(str(tmp_path / "gone.png"),))])
    assert sent.ok and sent.text == f"PARAPHRASE: {QUESTIONS[0]}"
    assert not missing.ok and missing.error == f"image not found: {tmp_path / 'gone.png'}"
    (body,) = server.bodies  # the request with a missing image never left
    (message,) = body["messages"]
    assert [part["type"] for part in message["content"]] == ["image_url", "text"]
    assert message["content"][1]["text"] == QUESTIONS[0]
    # ShapeWorld writes PNG data under .jpg names: the MIME type comes from the bytes
    assert server.images == [("image/png", Path(images[1]).read_bytes())]
    (headers,) = server.headers_seen
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(body) and "sk-must-not-be-sent" not in json.dumps([body, headers])


def test_http_forced_start_continues_an_assistant_message_or_the_written_prompt(images):
    prefix = "A red circle.\n"
    with FakeOpenAI() as server:
        chat = _client(server, continue_final_message=True)
        (answer,) = chat.complete(
            [Request(prompt="Q?", images=(images[0],), response_prefix=prefix, decoding=GREEDY)]
        )
        completions = _client(server, endpoint="completions")
        (written,) = completions.complete([Request(prompt="Q?", response_prefix=prefix, decoding=GREEDY)])
        (text_only,) = completions.complete([Request(prompt="Q?", images=(images[0],), decoding=GREEDY)])
    assert chat.continues_prompt and completions.continues_prompt and not completions.sees_images
    chat_body, completion_body = server.bodies
    assert chat_body["messages"][-1] == {"role": "assistant", "content": prefix}
    assert chat_body["continue_final_message"] is True and chat_body["add_generation_prompt"] is False
    assert answer.text == "PARAPHRASE: Q?"  # the server continues the message; the prefix is not repeated
    assert completion_body["prompt"] == "Q?" + prefix and written.text == "PARAPHRASE: Q?" + prefix
    assert not text_only.ok and "endpoint=chat" in text_only.error
    with pytest.raises(ConfigError, match="continue_final_message"):
        LMSettings(backend="openai", endpoint="completions", continue_final_message=True).validate_lm(
            allowed=("openai",)
        )


def test_generate_through_a_server_sends_each_prediction_its_image_and_forced_start(world, tmp_path):
    with FakeOpenAI() as server:
        config = _generate(
            world,
            tmp_path / "run",
            backend="openai",
            model="served-vlm",
            base_url=server.base_url,
            continue_final_message=True,
        )
        records = [json.loads(line) for line in run_generate(config).read_text(encoding="utf-8").splitlines()]
        with pytest.raises(ConfigError, match="shows the model an image"):
            run_generate(
                replace(
                    config,
                    endpoint="completions",
                    continue_final_message=False,
                    output=str(tmp_path / "other"),
                )
            )
    assert len(records) == len(server.bodies) == len(server.images) == 6
    sent = sorted(data for _, data in server.images)
    assert sent == sorted(Path(r["image"]).read_bytes() for r in records)
    neg = [body for body in server.bodies if body["messages"][-1]["role"] == "assistant"]
    assert sorted(b["messages"][-1]["content"] for b in neg) == sorted(
        r["response_prefix"] for r in records if r["variant"] == "caption-neg"
    )
    # the server saw the prompt without the forced start (sent apart, as the message it continues)
    assert all(
        r["response"] == "PARAPHRASE: " + r["prompt"].removesuffix(r["response_prefix"]) for r in records
    )
