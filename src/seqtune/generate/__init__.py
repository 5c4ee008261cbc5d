"""Generation: task × variant → requests → predictions (`pipeline.py`: the `generate` / `eval` stage,
predictions.jsonl + manifest.json, resumable). The models themselves are seqtune.lm's."""
