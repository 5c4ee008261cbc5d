"""A local Hugging Face causal LM: static batches (length-sorted, left-padded) or continuous batching.

Static: prompts are tokenized once, sorted by length (longest first, so an out-of-memory batch shows up at once)
and generated in left-padded batches of `batch_size`; results are reported per batch and put back in the caller's
order. Continuous: transformers' `generate_batch` (a paged KV cache; finished sequences leave the batch and new
ones join at once) over chunks of requests, so answers still reach the caller (and its resume file) as they come.
Both give the same greedy outputs on the CPU (tests/test_generate.py, on transformers 5.17 and 5.24).
`batching=auto` uses static batches everywhere: on the CPU continuous batching was measured 2–5× slower
(BENCHMARKS.md) and on a GPU it has not been measured yet, so it stays opt-in (`batching=continuous`).
Only the tokens after the prompt are the response, cut at the first EOS, then at the first stop string.
A model folder holding `adapter_config.json` is a PEFT adapter: its base model is loaded and the adapter put on
top. Chat requests are written with the tokenizer's chat template, or else with the prompt template (the one saved
beside the model, else `prompt_template`), the system message being the instruction and the user message the input.
An InstructBLIP model given to `backend=hf` is answered by lm/hf_vlm.py, a subclass of this one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.lm.base import LM, LMS, Completion, Decoding, Done, LocalModel, Request, truncate_at_stop
from seqtune.prompts import PromptTemplate, get_template, load_saved_template
from seqtune.records import looks_like_path

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
CONTINUOUS_CHUNK = 1024
"""Requests handed to one continuous-batching run: large enough to keep the batch full, small enough that answers
are saved as they come."""
PAGE_TOKENS = 256
"""Tokens per page of the paged KV cache (transformers' default page size)."""


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


def _has_tokenizer(folder: str) -> bool:
    return any(
        (Path(folder) / name).is_file()
        for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    )


def _left_padding(tokenizer):
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class HFCausalLM(LocalModel, LM):
    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        network=None,
        tokenizer=None,
        device: str = "auto",
        dtype: str = "auto",
        merge_adapter: bool = True,
        batch_size: int = 16,
        batching: str = "auto",
        prompt_template: str = "alpaca",
        reject_incomplete: bool = True,
        cache_path: str | None = None,
    ):
        """A model folder or hub id (+ a PEFT adapter; a model folder that is an adapter names its base), loaded
        on first use, so a fully cached re-run never loads it; or an already loaded `network` + `tokenizer` (e.g.
        built in memory by a benchmark)."""
        if network is None:
            model, adapter = split_adapter(model, adapter)
            if looks_like_path(model) and not Path(model).is_dir():
                raise SeqtuneError(f"model: no such folder: {model}")
        super().__init__(model, reject_incomplete=reject_incomplete, cache_path=cache_path)
        self.adapter = adapter
        self._network = network.eval() if network is not None else None
        self._tokenizer = _left_padding(tokenizer) if tokenizer is not None else None
        self._load_options = {"device": device, "dtype": dtype, "merge_adapter": merge_adapter}
        self.batch_size = batch_size
        self.batching = batching
        self.template = self.saved_template() or get_template(prompt_template)

    @property
    def device(self):
        return next(self.network.parameters()).device

    @property
    def continuous(self) -> bool:
        return self.batching == "continuous"

    def _load(self, device: str, dtype: str, merge_adapter: bool) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base, adapter = self.model, self.adapter
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
        self._network, self._tokenizer = network.to(torch_device).eval(), _left_padding(tokenizer)

    def identity(self) -> dict:
        # the adapter and the template change the answers as much as the model does
        return {**super().identity(), "adapter": self.adapter, "template": self.template.name}

    def saved_template(self) -> PromptTemplate | None:
        for folder in (self.adapter, self.model):
            if folder and Path(folder).is_dir():
                template = load_saved_template(folder)
                if template is not None:
                    return template
        return None

    def prompt_text(self, request: Request) -> str:
        if request.prompt is not None:
            return request.prompt + request.response_prefix
        messages = [dict(message) for message in request.messages]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
            user = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
            instruction, input_text = (system, user) if system else (user, "")
            text = self.template.render(instruction, input_text, tokenizer=self.tokenizer)
        return text + request.response_prefix

    def _complete(self, requests: list[Request], done: Done) -> None:
        groups: dict[Decoding, list[int]] = {}  # requests with equal decoding settings are generated together
        for index, request in enumerate(requests):
            groups.setdefault(request.decoding, []).append(index)
        for decoding, indices in groups.items():

            def report(
                positions: list[int], ids: list[list[int]], indices=indices, decoding=decoding
            ) -> None:
                done([indices[p] for p in positions], [self.completion(row, decoding) for row in ids])

            prompts = [self.prompt_text(requests[index]) for index in indices]
            if self.continuous and not decoding.min_new_tokens:  # generate_batch has no min_new_tokens
                self.generate_ids_continuous(prompts, decoding, on_done=report)
            else:
                self.generate_ids(prompts, decoding, on_done=report)

    def completion(self, ids: list[int], decoding: Decoding) -> Completion:
        """The answer for generated `ids` (EOS included when the model ended it)."""
        ended = bool(ids) and ids[-1] in self._eos_ids()
        ids = self._trim(ids)
        full = self.tokenizer.decode(ids, skip_special_tokens=True)
        text = truncate_at_stop(full, decoding.stop)
        cut = not ended and text == full and len(ids) >= decoding.max_new_tokens
        return Completion(text, "length" if cut else "stop")

    def encode(self, prompts: list[str]) -> list[list[int]]:
        # a chat template already wrote the special tokens (BOS) into the text
        return self.tokenizer(prompts, add_special_tokens=not self._chat_rendered(prompts))["input_ids"]

    def generate_ids(self, prompts: list[str], decoding: Decoding, on_done=None) -> list[list[int]]:
        """Static batches. Generated token ids per prompt (prompt excluded; up to and including the first EOS).
        `on_done(indices, ids)` per batch."""
        import torch

        encoded = self.encode(prompts)
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
            rows = [self._through_eos(row) for row in output[:, batch["input_ids"].shape[1] :].tolist()]
            for index, ids in zip(indices, rows, strict=True):
                results[index] = ids
            if on_done is not None:
                on_done(indices, rows)
        return results

    def generate_ids_continuous(
        self, prompts: list[str], decoding: Decoding, on_done=None
    ) -> list[list[int]]:
        """Continuous batching (paged attention), in chunks of CONTINUOUS_CHUNK prompts; same result as
        `generate_ids`. A request the engine fails is reported as an empty row with no EOS (a failed answer)."""
        import torch

        encoded = self.encode(prompts)
        config = self._generation_config(decoding, continuous=True)
        results: list[list[int]] = [[] for _ in prompts]
        for start in range(0, len(prompts), CONTINUOUS_CHUNK):
            indices = list(range(start, min(start + CONTINUOUS_CHUNK, len(prompts))))
            if not decoding.greedy:
                torch.manual_seed(decoding.seed + start)
            # no_grad, not inference_mode: the engine builds its cache in this thread and updates it in a worker
            # thread, which transformers 5.17 runs outside inference mode ("Inplace update to inference tensor
            # outside InferenceMode"); 5.24 carries the mode over, so both work with no_grad
            with torch.no_grad():
                outputs = self.network.generate_batch(
                    inputs=[encoded[i] for i in indices],
                    generation_config=config,
                    continuous_batching_config=self._paged_cache([encoded[i] for i in indices], decoding),
                    progress_bar=False,
                    # builds the engine in this thread before the worker starts (and captures CUDA graphs on a
                    # GPU), so the CPU runs the GPU's order of events
                    warmup=True,
                )
            # outputs come keyed by request id in input order; match on the prompt ids all the same, so that a
            # request the engine dropped cannot shift the others
            by_prompt: dict[tuple, list] = {}
            for output in outputs.values():
                by_prompt.setdefault(tuple(output.prompt_ids), []).append(output)
            rows = []
            for index in indices:
                matches = by_prompt.get(tuple(encoded[index]))
                output = matches.pop(0) if matches else None
                rows.append(
                    self._through_eos(list(output.generated_tokens))
                    if output is not None and output.error is None
                    else None
                )
            for index, row in zip(indices, rows, strict=True):
                results[index] = row or []
            if on_done is not None:
                ok = [(i, row) for i, row in zip(indices, rows, strict=True) if row is not None]
                on_done([i for i, _ in ok], [row for _, row in ok])
        return results

    def _paged_cache(self, inputs: list[list[int]], decoding: Decoding):
        """On a GPU, transformers sizes the paged KV cache to the free memory; on the CPU it would size it to the
        machine's RAM (seconds of allocation per call), so there it is sized to the work: every sequence whole."""
        if self.device.type == "cuda":
            return None
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        pages = sum(-(-(len(ids) + decoding.max_new_tokens) // PAGE_TOKENS) for ids in inputs)
        return ContinuousBatchingConfig(num_blocks=pages, max_batch_tokens=PAGE_TOKENS)

    def _chat_rendered(self, prompts: list[str]) -> bool:
        bos = self.tokenizer.bos_token
        return bool(bos) and bool(prompts) and all(p.startswith(bos) for p in prompts)

    def _eos_ids(self) -> set[int]:
        eos = self.network.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _through_eos(self, ids: list[int]) -> list[int]:
        """Up to and including the first EOS: what follows it in a padded batch is padding."""
        eos = self._eos_ids()
        end = next((position for position, token in enumerate(ids) if token in eos), None)
        return ids if end is None else ids[: end + 1]

    def _trim(self, ids: list[int]) -> list[int]:
        """Without the EOS; without the pad tokens that fill a row that finished early (on a stop string)."""
        eos = self._eos_ids()
        if ids and ids[-1] in eos:
            ids = ids[:-1]
        pad = self.tokenizer.pad_token_id
        while ids and ids[-1] == pad and pad not in eos:
            ids = ids[:-1]
        return ids

    def trimmed_ids(self, prompts: list[str], decoding: Decoding) -> list[list[int]]:
        """The response token ids per prompt (no EOS, no padding), with the configured batching."""
        generate = self.generate_ids_continuous if self.continuous else self.generate_ids
        return [self._trim(ids) for ids in generate(prompts, decoding)]

    def _generation_config(self, decoding: Decoding, continuous: bool = False):
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
            # continuous batching has no stop strings: the text is cut at them afterwards, the same answer
            stop_strings=None if continuous else list(decoding.stop) or None,
            eos_token_id=model_config.eos_token_id
            if model_config.eos_token_id is not None
            else self.tokenizer.eos_token_id,
            bos_token_id=model_config.bos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            **sampling,
        )

    def close(self) -> None:
        super().close()
        self._network = None


@LMS.register("hf")
def from_settings(settings, *, reject_incomplete: bool, cache_path: str | None) -> HFCausalLM:
    """A causal LM, or for an InstructBLIP model (seqtune-trained, or config.json's model_type) the
    vision-language back-end (lm/hf_vlm.py): one `backend=hf` for both, chosen by the model."""
    from seqtune.lm import hf_vlm

    if hf_vlm.is_vision_model(settings.model):
        return hf_vlm.from_settings(settings, reject_incomplete=reject_incomplete, cache_path=cache_path)
    return HFCausalLM(
        settings.model,
        adapter=settings.adapter,
        device=settings.device,
        dtype=settings.dtype,
        merge_adapter=settings.merge_adapter,
        batch_size=settings.batch_size,
        batching=settings.batching,
        prompt_template=settings.prompt_template,
        reject_incomplete=reject_incomplete,
        cache_path=cache_path,
    )
