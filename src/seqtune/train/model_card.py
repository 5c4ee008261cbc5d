"""The short README.md written beside a trained model or adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqtune.prompts import PromptTemplate
from seqtune.records import atomic_write

KINDS = {
    "lora": "PEFT LoRA adapter",
    "full": "fully fine-tuned model",
    "qformer": "InstructBLIP Q-Former (with query tokens and language projection; load with "
    "`seqtune.train.instructblip.load_trained`)",
}


def write_model_card(
    folder: Path, *, base_model: str, template: PromptTemplate, summary: dict[str, Any]
) -> Path:
    kind = KINDS[summary["finetune"]]
    lines = [
        "---",
        f"base_model: {json.dumps(base_model)}",
        "library_name: " + ("peft" if summary["finetune"] == "lora" else "transformers"),
        "tags: [seqtune, sequential-instruction-tuning, trl, sft]",
        "---",
        "",
        f"# {kind} trained with seqtune",
        "",
        f"- base model: `{base_model}`",
        f"- training data: `{summary['data']}` ({summary['train_examples']} training / "
        f"{summary['dev_examples']} dev examples)",
        f"- optimizer steps: {summary['global_step']}, global batch {summary['global_batch_size']} "
        f"(micro-batch {summary['micro_batch_size']} × accumulation {summary['gradient_accumulation_steps']} "
        f"× {summary['processes']} processes)",
        f"- learning rate {summary['learning_rate']}, epochs {summary['epochs']}, cutoff {summary['cutoff_len']} "
        f"tokens, precision {summary['precision']}, batching {summary['batching']}",
        f"- best dev loss: {summary['best_dev_loss']} ({summary['best_checkpoint']})",
        f"- loss on prompt tokens: {'yes' if summary['train_on_inputs'] else 'no (completion only)'}",
        "",
        f"## Prompt template (`{template.name}`, saved as `prompt_template.json`)",
        "",
        "`seqtune generate` reads `prompt_template.json` and prompts the model exactly as it was trained.",
        "",
    ]
    if template.kind == "chat":
        lines.append("The tokenizer's own chat template; the instruction and input form one user turn.")
    else:
        lines += [
            "With an input:",
            "",
            "```",
            template.prompt_input,
            "```",
            "",
            "Without an input:",
            "",
            "```",
            template.prompt_no_input,
            "```",
        ]
    lines += [
        "",
        "Responses end with the tokenizer's EOS token, which was appended to every training example.",
        "",
    ]
    path = folder / "README.md"
    with atomic_write(path) as handle:
        handle.write("\n".join(lines))
    return path
