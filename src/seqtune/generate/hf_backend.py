"""Local Hugging Face generation: batched, left-padded, length-sorted, greedy by default.

Prompts are tokenized once, sorted by length (longest first, so an out-of-memory batch shows up at once) and
generated in left-padded batches; results are put back in the caller's order. Only the tokens after the padded
input are the response, cut at the first EOS/pad token, then at the first stop string.
A model folder holding `adapter_config.json` is a PEFT adapter: its base model is loaded and the adapter put on
top. torch/transformers/peft are imported inside functions so that importing this module stays light.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.backend import BACKENDS, Backend, Decoding, OnDone, truncate_at_stop
from seqtune.prompts import PromptTemplate, load_saved_template
from seqtune.records import looks_like_path

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"


def split_adapter(model: str, adapter: str | None) -> tuple[str, str | None]:
    """(base model, adapter folder): a `model` folder that is a PEFT adapter names its own base model."""
    config_path = Path(model) / ADAPTER_CONFIG
    if not config_path.is_file():
        return model, adapter
    if adapter:
        raise ConfigError(f"model '{model}' is already a PEFT adapter; do not also set adapter")
    try:
        base = json.loads(config_path.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise SeqtuneError(f"{config_path}: cannot read the base model name ({exc})") from None
    if not base:
        raise SeqtuneError(f"{config_path}: field 'base_model_name_or_path' is empty")
    return base, model


def resolve_device_dtype(device: str, dtype: str):
    """(torch.device, torch.dtype): auto = the GPU in bfloat16 when there is one, else the CPU in float32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_device = torch.device(device)
    if dtype == "auto":
        dtype = "bfloat16" if torch_device.type == "cuda" else "float32"
    return torch_device, getattr(torch, dtype)


class HFBackend(Backend):
    name = "hf"

    def __init__(self, network, tokenizer, *, model: str, adapter: str | None = None, batch_size: int = 16):
        """Wrap an already loaded model (e.g. built in memory by a benchmark); `load` reads one from disk/hub."""
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model, self.adapter = model, adapter
        self.batch_size = batch_size
        self.device = next(network.parameters()).device

    @classmethod
    def load(
        cls,
        model: str,
        *,
        adapter: str | None = None,
        batch_size: int = 16,
        device: str = "auto",
        dtype: str = "auto",
        merge_adapter: bool = True,
    ) -> HFBackend:
        """A model folder or hub id (+ a PEFT adapter; a model folder that is an adapter names its base)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base, adapter = split_adapter(model, adapter)
        if looks_like_path(base) and not Path(base).is_dir():
            raise SeqtuneError(f"model: no such folder: {base}")
        torch_device, torch_dtype = resolve_device_dtype(device, dtype)
        try:
            # the adapter folder's tokenizer wins: training may have added tokens (e.g. a pad token)
            tokenizer = AutoTokenizer.from_pretrained(
                adapter if adapter and _has_tokenizer(adapter) else base
            )
        except OSError as exc:  # not a model folder, or a hub id that cannot be fetched
            raise SeqtuneError(f"model: cannot load '{base}' ({exc})") from None
        log.info(
            "loading %s (%s, %s)%s",
            base,
            torch_device,
            torch_dtype,
            f" + adapter {adapter}" if adapter else "",
        )
        network = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, use_safetensors=True)
        if adapter:
            from peft import PeftModel

            network = PeftModel.from_pretrained(network, adapter)
            if merge_adapter:
                network = network.merge_and_unload()
        return cls(network.to(torch_device), tokenizer, model=base, adapter=adapter, batch_size=batch_size)

    def saved_template(self) -> PromptTemplate | None:
        for folder in (self.adapter, self.model):
            if folder and Path(folder).is_dir():
                template = load_saved_template(folder)
                if template is not None:
                    return template
        return None

    def render(self, template: PromptTemplate, instruction: str, input_text: str) -> str:
        return template.render(instruction, input_text, tokenizer=self.tokenizer)

    def generate(
        self, prompts: Sequence[str], decoding: Decoding, on_done: OnDone | None = None
    ) -> list[str]:
        texts: list[str] = [""] * len(prompts)

        def decode_batch(indices: list[int], ids: list[list[int]]) -> None:
            decoded = [self.decode(one, decoding) for one in ids]
            for index, text in zip(indices, decoded, strict=True):
                texts[index] = text
            if on_done is not None:
                on_done(indices, decoded)

        self.generate_ids(prompts, decoding, on_done=decode_batch)
        return texts

    def decode(self, ids: list[int], decoding: Decoding) -> str:
        return truncate_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), decoding.stop)

    def generate_ids(self, prompts: Sequence[str], decoding: Decoding, on_done=None) -> list[list[int]]:
        """Generated token ids per prompt (prompt excluded, cut at the first EOS/pad). `on_done(indices, ids)`."""
        import torch

        # a chat template already wrote the special tokens (BOS) into the text
        encoded = self.tokenizer(list(prompts), add_special_tokens=not self._chat_rendered(prompts))[
            "input_ids"
        ]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        config = self._generation_config(decoding)
        results: list[list[int]] = [[] for _ in prompts]
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in indices]}, return_tensors="pt")
            batch = {key: value.to(self.device) for key, value in batch.items()}
            if not decoding.greedy:
                torch.manual_seed(decoding.seed + start)
            with torch.inference_mode():
                output = self.network.generate(**batch, generation_config=config, tokenizer=self.tokenizer)
            new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
            trimmed = [self._trim(row) for row in new_tokens]
            for index, ids in zip(indices, trimmed, strict=True):
                results[index] = ids
            if on_done is not None:
                on_done(indices, trimmed)
        return results

    def _chat_rendered(self, prompts: Sequence[str]) -> bool:
        bos = self.tokenizer.bos_token
        return bool(bos) and bool(prompts) and all(p.startswith(bos) for p in prompts)

    def _eos_ids(self) -> set[int]:
        eos = self.network.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _trim(self, ids: list[int]) -> list[int]:
        """Cut at the first EOS; drop the pad tokens that fill a row that finished early (on a stop string)."""
        eos = self._eos_ids()
        end = next((position for position, token in enumerate(ids) if token in eos), len(ids))
        ids = ids[:end]
        pad = self.tokenizer.pad_token_id
        while ids and ids[-1] == pad and pad not in eos:
            ids.pop()
        return ids

    def _generation_config(self, decoding: Decoding):
        """A fresh GenerationConfig: the model's own sampling defaults must not leak into greedy decoding."""
        from transformers import GenerationConfig

        model_config = self.network.generation_config
        sampling = (
            {"temperature": decoding.temperature, "top_p": decoding.top_p} if not decoding.greedy else {}
        )
        return GenerationConfig(
            max_new_tokens=decoding.max_new_tokens,
            min_new_tokens=decoding.min_new_tokens or None,
            do_sample=not decoding.greedy,
            num_beams=1,
            stop_strings=list(decoding.stop) or None,
            eos_token_id=model_config.eos_token_id
            if model_config.eos_token_id is not None
            else self.tokenizer.eos_token_id,
            bos_token_id=model_config.bos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            **sampling,
        )


def _has_tokenizer(folder: str) -> bool:
    return any(
        (Path(folder) / name).is_file()
        for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    )


@BACKENDS.register("hf")
def from_config(config) -> HFBackend:
    return HFBackend.load(
        config.model,
        adapter=config.adapter,
        batch_size=config.batch_size,
        device=config.device,
        dtype=config.dtype,
        merge_adapter=config.merge_adapter,
    )
