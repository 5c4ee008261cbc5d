"""A local InstructBLIP (`InstructBlipForConditionalGeneration` + `InstructBlipProcessor`): `backend=hf` with a
model that is one (a `seqtune train` output holding seqtune_model.json, or a folder / hub id whose config.json
says `model_type: instructblip`) is answered here; hf.py's `from_settings` routes it.

What the model reads is the training layout (train/instructblip.py), which is the processor's: `<image>` ×
num_query_tokens, then the prompt written with the saved prompt template (BOS included), then the forced response
start; the Q-Former reads the prompt without the forced start, as in training. Requests are tokenized once, sorted
by length and generated in left-padded batches of `batch_size` (the padding goes before the image tokens, so every
row is its one-at-a-time sequence shifted right: the same greedy output). Only the tokens after the prompt are the
response; EOS, stop strings and token limits are handled as for text models (hf.py, which this class extends).

Each request carries one image path (`Request.images`); a missing or unreadable image fails that request only,
with an error naming the file. Images are read batch by batch, so memory does not grow with the number of requests.
No PEFT adapter and no continuous batching here (the Q-Former-only training saves its weights beside the model).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.lm.base import Completion, Decoding, Done, Request, failed
from seqtune.lm.hf import HFCausalLM, resolve_device_dtype
from seqtune.records import looks_like_path

log = logging.getLogger(__name__)

MODEL_TYPE = "instructblip"


def is_vision_model(model: str) -> bool:
    """Whether `model` (a folder or a hub id) is an InstructBLIP: a seqtune-trained one, or a config.json of that
    model type. A hub id's config.json is fetched as from_pretrained would fetch it; one that cannot be fetched
    leaves the model to the text back-end, whose loading then names the problem."""
    from seqtune.train.instructblip import MODEL_FILE

    folder = Path(model)
    if (folder / MODEL_FILE).is_file():
        return True
    config = folder / "config.json"
    if not config.is_file():
        if looks_like_path(model) or not model:
            return False
        try:
            from huggingface_hub import hf_hub_download

            config = Path(hf_hub_download(model, "config.json"))
        except (OSError, ValueError):  # offline and not cached, no such repository, not a repository id
            return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


class HFVisionLM(HFCausalLM):
    """InstructBLIP through transformers; `network` + `processor` may be given already loaded (a benchmark)."""

    sees_images = True
    needs_images = True

    def __init__(
        self,
        model: str,
        *,
        network=None,
        processor=None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        prompt_template: str = "alpaca",
        reject_incomplete: bool = True,
        cache_path: str | None = None,
    ):
        super().__init__(
            model,
            network=network,
            tokenizer=processor.tokenizer if processor is not None else None,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            batching="static",
            prompt_template=prompt_template,
            reject_incomplete=reject_incomplete,
            cache_path=cache_path,
        )
        self._processor = processor

    @property
    def processor(self):
        if self._processor is None:
            self._load(**self._load_options)
        return self._processor

    def _load(self, device: str, dtype: str, merge_adapter: bool) -> None:
        from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

        from seqtune.lm.hf import _left_padding
        from seqtune.train.instructblip import MODEL_FILE, load_trained

        torch_device, torch_dtype = resolve_device_dtype(device, dtype)
        log.info("loading %s (InstructBLIP, %s, %s)", self.model, torch_device, torch_dtype)
        try:
            if (Path(self.model) / MODEL_FILE).is_file():  # the trained weights on top of their base model
                network, processor = load_trained(self.model, dtype=torch_dtype)
            else:
                network = InstructBlipForConditionalGeneration.from_pretrained(
                    self.model, dtype=torch_dtype, use_safetensors=True
                )
                processor = InstructBlipProcessor.from_pretrained(self.model)
        except OSError as exc:  # not a model folder, or a hub id that cannot be fetched
            raise SeqtuneError(f"model: cannot load '{self.model}' ({exc})") from None
        self._network = network.to(torch_device).eval()
        self._processor, self._tokenizer = processor, _left_padding(processor.tokenizer)

    def _complete(self, requests: list[Request], done: Done) -> None:
        groups: dict[Decoding, list[int]] = {}  # requests with equal decoding settings are generated together
        for index, request in enumerate(requests):
            groups.setdefault(request.decoding, []).append(index)
        for decoding, indices in groups.items():

            def report(
                positions: list[int],
                answers: list[Completion | list[int]],
                indices=indices,
                decoding=decoding,
            ) -> None:
                done(
                    [indices[p] for p in positions],
                    [a if isinstance(a, Completion) else self.completion(a, decoding) for a in answers],
                )

            self.generate_ids_with_images([requests[i] for i in indices], decoding, report)

    def generate_ids_with_images(self, requests: list[Request], decoding: Decoding, on_done) -> None:
        """Static batches, longest prompts first. `on_done(positions, answers)` per batch: generated ids (prompt
        excluded, through the first EOS) or, for a request whose image cannot be used, a failed Completion."""
        import torch

        encoded = self.encode_with_images(requests)
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i][0]))
        config = self._generation_config(decoding)
        for start in range(0, len(order), self.batch_size):
            positions = order[start : start + self.batch_size]
            images, usable, failures = [], [], []
            for position in positions:
                image = self._read_image(requests[position])
                if isinstance(image, Completion):
                    failures.append((position, image))
                else:
                    images.append(image)
                    usable.append(position)
            if failures:
                on_done([p for p, _ in failures], [f for _, f in failures])
            if not usable:
                continue
            batch = self._batch([encoded[p] for p in usable], images)
            if not decoding.greedy:
                torch.manual_seed(decoding.seed + start)
            with torch.inference_mode():
                output = self.network.generate(**batch, generation_config=config, tokenizer=self.tokenizer)
            on_done(usable, [self._through_eos(row) for row in self._new_tokens(output, batch["input_ids"])])

    def encode_with_images(self, requests: list[Request]) -> list[tuple[list[int], list[int]]]:
        """(language-model ids, Q-Former ids) per request: `<image>` × num_query_tokens + the prompt with its
        forced start; the Q-Former reads the prompt without it (train/instructblip.py's layout)."""
        processor = self.processor
        image_token = self.tokenizer.convert_tokens_to_ids(processor.image_token.content)
        image_ids = [image_token] * processor.num_query_tokens
        text_ids = self.encode([self.prompt_text(request) for request in requests])
        limit = processor.qformer_tokenizer.model_max_length
        qformer_ids = processor.qformer_tokenizer(
            [self.prompt_text(replace(request, response_prefix="")) for request in requests],
            truncation=limit < 1_000_000,  # a tokenizer without a limit says so with a huge number
            max_length=limit if limit < 1_000_000 else None,
        )["input_ids"]
        return [(image_ids + ids, q) for ids, q in zip(text_ids, qformer_ids, strict=True)]

    def _read_image(self, request: Request):
        """The request's one image as RGB, or a failed Completion naming the file."""
        from PIL import Image, UnidentifiedImageError

        if len(request.images) != 1:
            return failed("failed", f"InstructBLIP reads one image per request, got {len(request.images)}")
        path = request.images[0]
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            return failed("failed", f"image not found: {path}")
        except (UnidentifiedImageError, OSError) as exc:
            return failed("failed", f"image {path} cannot be read ({exc})")

    def _batch(self, rows: list[tuple[list[int], list[int]]], images: list) -> dict:
        """Left-padded language-model ids (pads before the image tokens), right-padded Q-Former ids, pixels."""
        import torch

        def padded(sequences: list[list[int]], pad: int, left: bool):
            longest = max(len(s) for s in sequences)
            fill = [[pad] * (longest - len(s)) for s in sequences]
            ids = [f + s if left else s + f for f, s in zip(fill, sequences, strict=True)]
            mask = [
                [0] * len(f) + [1] * len(s) if left else [1] * len(s) + [0] * len(f)
                for f, s in zip(fill, sequences, strict=True)
            ]
            return torch.tensor(ids, device=self.device), torch.tensor(mask, device=self.device)

        input_ids, attention_mask = padded([r[0] for r in rows], self.tokenizer.pad_token_id, left=True)
        qformer_pad = self.processor.qformer_tokenizer.pad_token_id or 0
        qformer_ids, qformer_mask = padded([r[1] for r in rows], qformer_pad, left=False)
        pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "qformer_input_ids": qformer_ids,
            "qformer_attention_mask": qformer_mask,
            "pixel_values": pixels.to(self.device, next(self.network.parameters()).dtype),
        }

    @staticmethod
    def _new_tokens(output, input_ids) -> list[list[int]]:
        """The generated tokens only: the language model returns the prompt ids followed by the new ones."""
        prompt_length = input_ids.shape[1]
        if output.shape[1] < prompt_length or not bool((output[:, :prompt_length] == input_ids).all()):
            raise SeqtuneError("InstructBLIP's generate did not return the prompt before the new tokens")
        return output[:, prompt_length:].tolist()


def from_settings(settings, *, reject_incomplete: bool, cache_path: str | None) -> HFVisionLM:
    """`backend=hf` for an InstructBLIP model (called by hf.py's factory)."""
    if settings.adapter:
        raise ConfigError(
            "adapter: an InstructBLIP model is loaded whole (a seqtune-trained folder holds its trained weights); "
            "give that folder as model"
        )
    if settings.batching == "continuous":
        raise ConfigError("batching: InstructBLIP generates in static batches only (use auto or static)")
    return HFVisionLM(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        prompt_template=settings.prompt_template,
        reject_incomplete=reject_incomplete,
        cache_path=cache_path,
    )
