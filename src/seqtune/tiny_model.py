"""A tiny Llama-architecture model and a BPE tokenizer trained locally on given text, and a tiny InstructBLIP
(small ViT, small Q-Former, that tiny Llama) with its processor.

Used by the demo and the tests so that the whole pipeline runs offline on a CPU: nothing is downloaded. The
models have random weights (seeded); training on the demo data is what gives them behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from seqtune.train.outputs import staged_folder

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
SPEC_FILE = "tiny_spec.json"


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 176
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    seed: int = 0


def built_with(folder: str | Path, spec: TinySpec) -> bool:
    """Whether `folder` holds a tiny model built with exactly `spec`."""
    path = Path(folder) / SPEC_FILE
    return path.is_file() and json.loads(path.read_text(encoding="utf-8")) == asdict(spec)


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer (no unknown characters in any script) as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
    )


def _llama_config(spec: TinySpec, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def build_tiny_model(folder: str | Path, texts: Iterable[str], spec: TinySpec = TinySpec()) -> Path:
    """Train a tokenizer on `texts`, create a seeded random LlamaForCausalLM, save both (safetensors) to `folder`."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = train_tokenizer(texts, spec.vocab_size)
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(_llama_config(spec, tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return _save_atomically(folder, spec, model, tokenizer)


def _save_atomically(folder: str | Path, spec, model, processing_class) -> Path:
    """Save the model, its tokenizer or processor and `spec` into a staging folder beside `folder` and rename it,
    so an interrupted build never leaves a half-written model behind."""
    folder = Path(folder)
    with staged_folder(folder) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        processing_class.save_pretrained(staging)
        (staging / SPEC_FILE).write_text(json.dumps(asdict(spec), sort_keys=True), encoding="utf-8")
    return folder


@dataclass(frozen=True)
class TinyBlipSpec:
    """A tiny InstructBLIP: `text` is its language model; the vision encoder and the Q-Former are as small.

    The defaults are the demo's recipe (configs/demo_vqa.yaml, measured on ShapeWorld): a 64×64 image in four 32×32
    patches, so that each patch holds one quarter of the canvas, i.e. one whole shape."""

    text: TinySpec = TinySpec()
    image_size: int = 64
    patch_size: int = 32
    vision_hidden_size: int = 64
    vision_layers: int = 2
    qformer_hidden_size: int = 64
    qformer_layers: int = 1
    num_query_tokens: int = 4
    qformer_max_position_embeddings: int = 512
    init_std: float = 0.125
    """Std of the random weights of every part (about 1/sqrt(hidden size)). The released models' 0.02 suits a
    checkpoint to be loaded: at hidden size 64 each layer would scale a signal down about six times, the language
    model learns the answers' priors from the question alone, and training drives the image features to a
    constant (measured: a ShapeWorld model that never looks at the image)."""
    language_model: str = ""
    """A causal-LM folder (e.g. a tiny Llama fine-tuned on the captions and answers) used as the language model
    with its tokenizer; empty: a random tiny Llama (`text`) with a tokenizer trained on the given texts."""


def build_tiny_instructblip(
    folder: str | Path, texts: Iterable[str], spec: TinyBlipSpec = TinyBlipSpec()
) -> Path:
    """A seeded random InstructBlipForConditionalGeneration and its InstructBlipProcessor, saved to `folder`.

    The language model is `spec.language_model` or a random tiny Llama with a BPE tokenizer trained on `texts`;
    it gets the processor's `<image>` token, and the Q-Former a copy of its tokenizer (InstructBLIP's is BERT's,
    which would need a download). A frozen random language model gives the Q-Former little to steer: a tiny
    InstructBLIP learns with `finetune: full` (the demo), or with a language model trained on the text first."""
    import copy

    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BlipImageProcessor,
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )

    torch.manual_seed(spec.text.seed)
    if spec.language_model:
        tokenizer = AutoTokenizer.from_pretrained(spec.language_model)
    else:
        tokenizer = train_tokenizer(list(texts), spec.text.vocab_size)
    qformer_tokenizer = copy.deepcopy(tokenizer)
    qformer_tokenizer.padding_side = "right"
    image_processor = BlipImageProcessor(
        size={"height": spec.image_size, "width": spec.image_size}, do_convert_rgb=True
    )
    # the processor adds `<image>` to the language model's tokenizer: the config's image token is its id
    processor = InstructBlipProcessor(
        image_processor, tokenizer, qformer_tokenizer, num_query_tokens=spec.num_query_tokens
    )
    if spec.language_model:
        language_model = AutoModelForCausalLM.from_pretrained(spec.language_model, use_safetensors=True)
        # + `<image>`, whose embedding is never read (the model puts image features there)
        language_model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    heads = 2
    config = InstructBlipConfig(
        vision_config=dict(
            hidden_size=spec.vision_hidden_size,
            intermediate_size=spec.vision_hidden_size * 2,
            num_hidden_layers=spec.vision_layers,
            num_attention_heads=heads,
            image_size=spec.image_size,
            patch_size=spec.patch_size,
            initializer_range=spec.init_std,  # InstructBLIP's vision default, 1e-10, would let no image through
        ),
        qformer_config=dict(
            vocab_size=len(qformer_tokenizer),
            hidden_size=spec.qformer_hidden_size,
            intermediate_size=spec.qformer_hidden_size * 2,
            num_hidden_layers=spec.qformer_layers,
            num_attention_heads=heads,
            max_position_embeddings=spec.qformer_max_position_embeddings,
            pad_token_id=qformer_tokenizer.pad_token_id,
            initializer_range=spec.init_std,
        ),
        text_config=language_model.config.to_dict()
        if spec.language_model
        else {**_llama_config(spec.text, tokenizer).to_dict(), "initializer_range": spec.init_std},
        num_query_tokens=spec.num_query_tokens,
        image_token_index=tokenizer.convert_tokens_to_ids(processor.image_token.content),
        initializer_range=spec.init_std,
    )
    model = InstructBlipForConditionalGeneration(config)
    if spec.language_model:
        model.language_model.load_state_dict(language_model.state_dict())
    # query tokens start at zero in transformers' init (the released ones are trained): random ones, so that
    # the queries differ from each other from the first step
    torch.nn.init.normal_(model.query_tokens, std=spec.init_std)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return _save_atomically(folder, spec, model, processor)
