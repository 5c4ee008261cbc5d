"""`seqtune <stage> ...`: one sub-command per stage.

Each command is a config dataclass plus a stage function. Only the chosen command's config class is imported
to build its options, and its stage function only when it runs, so `seqtune --help` stays fast and stages that
need no torch never import it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import NoReturn

from seqtune import __version__
from seqtune.errors import ConfigError, SeqtuneError


@dataclass(frozen=True)
class Command:
    help: str
    config: str  # "module:ConfigClass"
    function: str  # "module:function" taking the config
    positional: str | None = None  # list field filled by bare arguments


COMMANDS: dict[str, Command] = {
    "augment": Command(
        "Turn instruction data into sequential-instruction (SIT) training data.",
        "seqtune.augment.config:AugmentConfig",
        "seqtune.augment.pipeline:run_augment",
        positional="inputs",
    ),
    "train": Command(
        "Fine-tune a causal LM (LoRA or full) on Alpaca-format or sequential data.",
        "seqtune.train.config:TrainConfig",
        "seqtune.train.pipeline:run_train",
    ),
    "generate": Command(
        "Generate responses for a task's prompts with a local model or an OpenAI-compatible server.",
        "seqtune.generate.config:GenerateConfig",
        "seqtune.generate.pipeline:run_generate",
    ),
    "score": Command(
        "Score saved predictions (accuracy, following rate, ROUGE-L, BERTScore); never calls a model.",
        "seqtune.score:ScoreConfig",
        "seqtune.score:run_score",
        positional="predictions",
    ),
    "eval": Command(
        "generate + score in one command.",
        "seqtune.generate.config:EvalConfig",
        "seqtune.generate.pipeline:run_eval",
    ),
    "seqinstruct": Command(
        "Rewrite instructions into sequential ones with an LLM (Seq-Instruct: classify, rewrite, respond, iterate).",
        "seqtune.seqinstruct.config:SeqInstructConfig",
        "seqtune.seqinstruct.pipeline:run_seqinstruct",
        positional="inputs",
    ),
    "judge": Command(
        "Judge responses with an LLM: per-response following and quality, and pairwise win rates (SeqEval).",
        "seqtune.judge.config:JudgeConfig",
        "seqtune.judge.pipeline:run_judge",
        positional="predictions",
    ),
    "report": Command(
        "Build paper-shaped tables (markdown, CSV) and figures from scored runs.",
        "seqtune.report.config:ReportConfig",
        "seqtune.report.pipeline:run_report",
        positional="runs",
    ),
    "run": Command(
        "Run the whole pipeline from one YAML config (augment → train → generate → score → report).",
        "seqtune.run:RunConfig",
        "seqtune.run:run_pipeline",
    ),
}


def _load(reference: str):
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line, like every other seqtune error (its usage block is for --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"seqtune: error: {message} (see: {self.prog} --help)\n")


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The top-level parser; only `command`'s sub-parser gets its (imported) options."""
    from seqtune.config import add_config_arguments

    parser = _Parser(prog="seqtune", description="Sequential instruction tuning toolkit.")
    parser.add_argument("--version", action="version", version=f"seqtune {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        sub = subparsers.add_parser(name, help=spec.help, description=spec.help)
        if name == command:
            add_config_arguments(sub, _load(spec.config), positional=spec.positional)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        # parse_args would refuse a key=value or a path after an --option (argparse fills a positional list
        # only once); what it leaves over goes to the same list, and a leftover --option is still an error
        namespace, leftover = parser.parse_known_args(argv)
        if namespace.command is None:
            parser.print_help()
            return 2
        unknown = [arg for arg in leftover if arg.startswith("-")]
        if unknown:
            raise ConfigError(
                f"unrecognized arguments: {' '.join(unknown)} (see: seqtune {namespace.command} --help)"
            )
        namespace.args = [*namespace.args, *leftover]
        logging.basicConfig(
            level=logging.WARNING if namespace.quiet else logging.INFO,
            format="%(message)s",
            stream=sys.stderr,
        )
        # the openai client's transport logs every request at INFO: thousands of lines in a model-calling stage
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from seqtune.config import config_from_args

        spec = COMMANDS[namespace.command]
        config = config_from_args(_load(spec.config), namespace, positional=spec.positional)
        _load(spec.function)(config)
        return 0
    except SeqtuneError as error:
        print(f"seqtune: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # the file system refused something (a read-only folder, a full disk, a file where a folder should
        # be): the user's to fix, so one line naming the path rather than a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"seqtune: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqtune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
