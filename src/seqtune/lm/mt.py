"""Seq2seq translation models (MarianMT, NLLB, M2M100 style) as an LM: a request's `prompt` is the source text,
its completion the translation into the translator's target language.

Batched and length-sorted like the causal LM (lm/hf.py); the GPU when there is one. Decoding is the model's own
(translation models ship tuned beam settings in their generation config); only the token limit comes from the
request. Language codes: NLLB and M2M100 take the source language on the tokenizer and force the target language
as the first generated token ("deu_Latn" for NLLB, "de" for M2M100); a multi-target Marian model takes a ">>de<<"
token before the text; a one-pair Marian model needs none. A translation that does not end within the token
limit is "length" (cut off), so callers that must not keep one (building training data) can refuse it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from seqtune.errors import SeqtuneError
from seqtune.lm.base import LM, Completion, Done, LocalModel, Request
from seqtune.records import looks_like_path

log = logging.getLogger(__name__)


def _right_padding(tokenizer):
    # the encoder reads padded batches; positions must start at the text, whatever the tokenizer's own default
    tokenizer.padding_side = "right"
    return tokenizer


class Translator(LocalModel, LM):
    name = "mt"

    def __init__(
        self,
        model: str,
        *,
        source_lang: str,
        target_lang: str,
        network=None,
        tokenizer=None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        reject_incomplete: bool = True,
        cache_path: str | None = None,
    ):
        """`model`: a folder or hub id, loaded on first use (a fully cached re-run never loads it); or an already
        loaded `network` + `tokenizer`. `source_lang`/`target_lang`: the model's own language codes."""
        if network is None and looks_like_path(model) and not Path(model).is_dir():
            raise SeqtuneError(f"mt_model: no such folder: {model}")
        super().__init__(model, reject_incomplete=reject_incomplete, cache_path=cache_path)
        self.source_lang, self.target_lang = source_lang, target_lang
        self._network = network
        self._tokenizer = _right_padding(tokenizer) if tokenizer is not None else None
        self._load_options = {"device": device, "dtype": dtype}
        self.batch_size = batch_size

    def identity(self) -> dict:
        return {**super().identity(), "source": self.source_lang, "target": self.target_lang}

    def _load(self, device: str, dtype: str) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from seqtune.lm.hf import resolve_device_dtype

        torch_device, torch_dtype = resolve_device_dtype(device, dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model)
        except OSError as exc:
            raise SeqtuneError(f"mt_model: cannot load '{self.model}' ({exc})") from None
        log.info("loading translation model %s (%s, %s)", self.model, torch_device, torch_dtype)
        network = AutoModelForSeq2SeqLM.from_pretrained(self.model, dtype=torch_dtype, use_safetensors=True)
        self._network, self._tokenizer = network.to(torch_device).eval(), _right_padding(tokenizer)

    def _language_setup(self) -> tuple[str, int | None]:
        """(text before each source text, forced first target token) for this model's kind of language codes."""
        tokenizer = self.tokenizer
        if hasattr(tokenizer, "src_lang"):  # NLLB, M2M100, mBART
            tokenizer.src_lang = self.source_lang
        if hasattr(tokenizer, "get_lang_id"):  # M2M100: "de" is the token "__de__"
            return "", tokenizer.get_lang_id(self.target_lang)
        vocabulary = tokenizer.get_vocab()
        if self.target_lang in vocabulary and hasattr(tokenizer, "src_lang"):  # NLLB: "deu_Latn" is a token
            return "", vocabulary[self.target_lang]
        marker = f">>{self.target_lang}<<"
        return (f"{marker} " if marker in vocabulary else ""), None  # Marian: multi-target, or one pair

    def _complete(self, requests: list[Request], done: Done) -> None:
        import torch

        prefix, forced_bos = self._language_setup()
        texts = [prefix + (request.prompt or "") for request in requests]
        encoded = self.tokenizer(texts)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
        device = next(self.network.parameters()).device
        eos = self.network.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        special = set(self.tokenizer.all_special_ids)
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in indices]}, return_tensors="pt")
            limits = {requests[i].decoding.max_new_tokens for i in indices}
            limit = max(limits)
            extra = {"forced_bos_token_id": forced_bos} if forced_bos is not None else {}
            with torch.inference_mode():
                output = self.network.generate(
                    **{key: value.to(device) for key, value in batch.items()}, max_new_tokens=limit, **extra
                )
            answers = []
            for index, row in zip(indices, output.tolist(), strict=True):
                # the first token is the decoder start; a row without EOS was stopped by the limit
                generated = row[1:]
                end = next((i for i, token in enumerate(generated) if token in eos_ids), None)
                content = [token for token in generated[:end] if token not in special]
                cut = end is None or len(content) > requests[index].decoding.max_new_tokens
                answers.append(
                    Completion(self.tokenizer.decode(content).strip(), "length" if cut else "stop")
                )
            done(indices, answers)
