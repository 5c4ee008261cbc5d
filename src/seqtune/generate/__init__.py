"""Generation: turn a task's prompts into responses with a local Hugging Face model or an OpenAI-compatible server.

`backend.py` holds the small interface and the registry; `hf_backend.py` and `http_backend.py` implement it;
`pipeline.py` is the `generate` / `eval` stage (predictions.jsonl + manifest.json, resumable).
"""
