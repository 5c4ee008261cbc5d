"""The one language-model layer: every model seqtune calls (docs/lm.md).

`base.py`: Request, Completion, Decoding and the `LM.complete(requests, on_done)` interface; `settings.py`: the one
settings section stages inherit and `build_lm`; `cache.py`: the one answer cache; `hf.py`, `hf_vlm.py`, `openai_http.py`,
`responses.py`, `mt.py`: the implementations.
"""
