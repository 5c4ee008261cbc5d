"""The InstructBLIP family (`InstructBlipForConditionalGeneration` + `InstructBlipProcessor`, or
`model=tiny-instructblip`): `finetune: qformer` trains the Q-Former, the query tokens and the language projection;
the vision encoder and the language model stay frozen. The same functions as `causal_lm`, called by `pipeline`.

An example is the processor's text layout: `<image>` × num_query_tokens, then the prompt (with BOS), the response
and EOS. Its labels come from `data.build_example` with the image tokens counted as prompt, so the loss is on the
response and EOS only. Images are read by the collator, one micro-batch at a time.

Only the trainable weights are saved (checkpoints and model/): model/ holds `trainable.safetensors`, the model's
`config.json`, the processor and `seqtune_model.json` (the base model to load the frozen weights from); load it with
`load_trained`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from seqtune.errors import ConfigError, RecordError
from seqtune.prompts import PromptTemplate
from seqtune.records import ErrorPolicy, iter_json_records, require_str, write_json
from seqtune.train import causal_lm
from seqtune.train.config import TrainConfig
from seqtune.train.data import TokenizedSplit, build_example, leading_token_ids

TINY = "tiny-instructblip"
# `attn_implementation: auto` → sdpa: the vision encoder and Q-Former have no flash-attention path, and
# image examples are never flattened into one row
FLASH_ATTENTION = False
TRAINABLE_PREFIXES = {"qformer": ("qformer.", "query_tokens", "language_projection."), "full": ("",)}
"""Parameter-name prefixes trained by each `finetune` setting (names of InstructBlipForConditionalGeneration)."""
WEIGHTS_FILE = "trainable.safetensors"
MODEL_FILE = "seqtune_model.json"


@dataclass(frozen=True)
class ImageExample:
    prompt: str
    completion: str
    image: str
    """Path of the image file (under `image_root` when the record's path is relative)."""


@dataclass
class ImageSplit(TokenizedSplit):
    qformer_input_ids: list[list[int]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def base_model(config: TrainConfig, folder: Path, state) -> str:
    """The model path or hub id; for `tiny-instructblip`, one built (once, by the main process) in `folder`."""
    if config.model != TINY:
        return config.model
    from seqtune.tiny_model import built_with

    with state.main_process_first():
        if state.is_main_process and not built_with(folder, tiny_spec(config)):
            build_tiny_base(config, folder)
    return str(folder.resolve())


def build_tiny_base(config: TrainConfig, folder: Path) -> Path:
    """The tiny InstructBLIP of `config` (tiny_* fields), its tokenizer trained on the texts of `config.data`."""
    from seqtune.tiny_model import build_tiny_instructblip

    return build_tiny_instructblip(folder, causal_lm.texts_for_tokenizer(config), tiny_spec(config))


def tiny_spec(config: TrainConfig):
    from seqtune.tiny_model import TinyBlipSpec

    language_model = str(Path(config.tiny_language_model).resolve()) if config.tiny_language_model else ""
    return TinyBlipSpec(text=causal_lm.tiny_spec(config), language_model=language_model)


def load_processing(base: str, config: TrainConfig):
    from transformers import InstructBlipProcessor

    processor = InstructBlipProcessor.from_pretrained(base, trust_remote_code=config.trust_remote_code)
    causal_lm.check_tokenizer(processor.tokenizer, base)
    causal_lm.check_tokenizer(processor.qformer_tokenizer, base)
    return processor


def read_examples(
    path: str, config: TrainConfig, template: PromptTemplate, processor, policy: ErrorPolicy
) -> list[ImageExample]:
    """Records with `instruction`, `input`, `output` and `image` → prompt, completion and an image path that
    opens as an image (a missing or unreadable one is an error naming the file and record, or skipped)."""
    from PIL import Image, UnidentifiedImageError

    source, examples = str(path), []
    for location, record in iter_json_records(path, policy):
        try:
            instruction = require_str(record, "instruction", source, location)
            input_text = require_str(record, "input", source, location, allow_missing=True)
            output = require_str(record, "output", source, location)
            image = str(Path(config.image_root or "") / require_str(record, "image", source, location))
            try:
                with Image.open(image):  # reads the header only
                    pass
            except FileNotFoundError:
                raise RecordError(source, location, "missing_image", f"image not found: {image}") from None
            except (UnidentifiedImageError, OSError) as exc:
                raise RecordError(source, location, "unreadable_image", f"{image}: {exc}") from None
        except RecordError as error:
            policy.handle(error)
            continue
        prompt = template.render(instruction, input_text, processor.tokenizer)
        examples.append(ImageExample(prompt, output, image))
    return examples


def tokenize(
    examples: list[ImageExample], processor, config: TrainConfig, template: PromptTemplate
) -> ImageSplit:
    """The processor's layout (image tokens + prompt with BOS), the response and EOS; Q-Former ids of the prompt."""
    tokenizer, split = processor.tokenizer, ImageSplit()
    image_ids = [tokenizer.convert_tokens_to_ids(processor.image_token.content)] * processor.num_query_tokens
    qformer_limit = processor.qformer_tokenizer.model_max_length
    qformer_limit = min(config.cutoff_len, qformer_limit if qformer_limit < 1_000_000 else config.cutoff_len)
    size = config.tokenize_batch_size
    for start in range(0, len(examples), size):
        chunk = examples[start : start + size]
        prompts = leading_token_ids(
            tokenizer, [e.prompt for e in chunk], config.cutoff_len, template.kind != "chat"
        )
        completions = leading_token_ids(tokenizer, [e.completion for e in chunk], config.cutoff_len, False)
        qformer = processor.qformer_tokenizer(
            [e.prompt for e in chunk], truncation=True, max_length=qformer_limit
        )["input_ids"]
        for example, prompt_ids, completion_ids, qformer_ids in zip(
            chunk, prompts, completions, qformer, strict=True
        ):
            built = build_example(
                prompt_ids,
                completion_ids,
                tokenizer.eos_token_id,
                cutoff_len=config.cutoff_len,
                train_on_inputs=config.train_on_inputs,
                placeholders=image_ids,
            )
            if built is None:
                split.dropped["prompt_reaches_cutoff"] += 1
                continue
            input_ids, labels = built
            split.input_ids.append(input_ids)
            split.labels.append(labels)
            split.qformer_input_ids.append(qformer_ids)
            split.images.append(example.image)
    return split


def load_model(base: str, config: TrainConfig, precision: str):
    """The model with only the `finetune` groups trainable. The frozen vision encoder and language model are
    loaded in bf16/fp16 on a GPU; the trained groups are kept in fp32 (master weights; the trainer autocasts)."""
    import torch
    from transformers import InstructBlipForConditionalGeneration

    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    model = InstructBlipForConditionalGeneration.from_pretrained(
        base,
        dtype=half,
        attn_implementation=config.attn_implementation,
        trust_remote_code=config.trust_remote_code,
        use_safetensors=True,
    )
    set_trainable(model, config.finetune)
    return model


def set_trainable(model, finetune: str) -> list[str]:
    """Trains exactly the parameters of the `finetune` groups (kept in fp32: master weights), freezes the rest;
    returns the trained names."""
    prefixes = TRAINABLE_PREFIXES[finetune]
    trained = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith(prefixes))
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
            trained.append(name)
    if not trained:
        raise ConfigError(f"no parameter of {type(model).__name__} starts with {', '.join(prefixes)}")
    return trained


@dataclass
class ImageCollator:
    """Pads a micro-batch (text right-padded, labels with IGNORE_INDEX) and reads its images through the
    processor's image processor (resize, normalize)."""

    processor: object

    def __call__(self, rows: list[dict]) -> dict:
        import torch
        from PIL import Image

        from seqtune.train.data import IGNORE_INDEX

        def pad(key: str, value: int):
            longest = max(len(row[key]) for row in rows)
            return torch.tensor([row[key] + [value] * (longest - len(row[key])) for row in rows])

        def mask(key: str):
            longest = max(len(row[key]) for row in rows)
            return torch.tensor([[1] * len(row[key]) + [0] * (longest - len(row[key])) for row in rows])

        images = []
        for row in rows:
            with Image.open(row["image"]) as image:
                images.append(image.convert("RGB"))
        pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return {
            "input_ids": pad("input_ids", self.processor.tokenizer.pad_token_id),
            "attention_mask": mask("input_ids"),
            "labels": pad("labels", IGNORE_INDEX),
            "qformer_input_ids": pad("qformer_input_ids", self.processor.qformer_tokenizer.pad_token_id),
            "qformer_attention_mask": mask("qformer_input_ids"),
            "pixel_values": pixels,
        }


def to_dataset(split: ImageSplit):
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "input_ids": split.input_ids,
            "labels": split.labels,
            "qformer_input_ids": split.qformer_input_ids,
            "image": split.images,
        }
    )


def build_trainer(config: TrainConfig, model, processor, train: ImageSplit, dev: ImageSplit, args):
    """transformers' Trainer (TRL's SFTTrainer replaces the forward with a fused LM head that InstructBLIP's
    does not support), with the same seeded sampler, file modes and trainable-only checkpoints."""
    from seqtune.train.trainer import TrainableOnlyTrainer

    args.remove_unused_columns = False  # the collator needs the image paths and Q-Former ids
    # the dev loss only: without this the evaluation loop keeps every batch's logits (2,000 × length × 32k floats)
    args.prediction_loss_only = True
    return TrainableOnlyTrainer(
        model=model,
        args=args,
        train_dataset=to_dataset(train),
        eval_dataset=to_dataset(dev) if len(dev) else None,
        processing_class=processor,
        data_collator=ImageCollator(processor),
    )


def save_model(trainer, processor, folder: Path, base: str) -> None:
    """`finetune: qformer`: trainable.safetensors, config.json, the processor and seqtune_model.json (what
    `load_trained` needs); `full`: a whole model that `from_pretrained` loads (e.g. the base of a Q-Former run)."""
    from safetensors.torch import save_file

    from seqtune.train.trainer import trainable_state

    model = trainer.accelerator.unwrap_model(trainer.model)
    if all(parameter.requires_grad for parameter in model.parameters()):
        trainer.save_model(str(folder))  # with the processor
        (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in config.yaml
        return
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in trainable_state(model).items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    model.config.save_pretrained(str(folder))
    model.generation_config.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    write_json(
        folder / MODEL_FILE,
        {"family": "instructblip", "base_model": base, "weights": WEIGHTS_FILE, "trained": sorted(state)},
    )


def load_trained(folder: str | Path, dtype=None):
    """(model, processor) of a `seqtune train` InstructBLIP output: the base model's frozen weights with the
    trained ones of `folder`; the processor and prompt template are read from `folder`."""
    from safetensors.torch import load_file
    from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

    folder = Path(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: not an InstructBLIP trained by seqtune (no {MODEL_FILE})")
    saved = json.loads(path.read_text(encoding="utf-8"))
    model = InstructBlipForConditionalGeneration.from_pretrained(
        saved["base_model"], dtype=dtype, use_safetensors=True
    )
    state = load_file(str(folder / saved["weights"]))
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys or set(state) != set(saved["trained"]):
        raise ConfigError(
            f"{folder}: its weights do not fit {saved['base_model']} ({result.unexpected_keys})"
        )
    return model, InstructBlipProcessor.from_pretrained(folder)
