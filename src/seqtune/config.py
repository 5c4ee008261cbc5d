"""Stage configuration: one dataclass per stage, filled from YAML, `key=value` overrides and CLI options.

Each stage's dataclass lives beside the stage (e.g. `seqtune.augment.config.AugmentConfig`); this module is the
shared mechanism. The attribute docstring under a field is its help text (read from the source with `ast`), so
the docs, `--help` and validation errors never drift apart. Values are type-checked against the annotations
before any model or data is loaded; a dataclass `validate()` method adds cross-field checks. Bounds that belong
to a type rather than to one stage are written in the annotation (`Annotated[float, Range(gt=0)]`, e.g.
`Seconds`); floats must be finite everywhere (NaN and infinity are never a meaningful setting).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import difflib
import inspect
import math
import operator
import textwrap
import types
import typing
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml

from seqtune.errors import ConfigError

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a numeric field, given in its annotation: `timeout: Annotated[float, Range(gt=0)] = 60.0`."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def check(self, name: str, value: float) -> None:
        bounds = (
            (">", self.gt, operator.gt),
            (">=", self.ge, operator.ge),
            ("<", self.lt, operator.lt),
            ("<=", self.le, operator.le),
        )
        for sign, bound, holds in bounds:
            if bound is not None and not holds(value, bound):
                raise ConfigError(f"{name}: must be {sign} {bound:g}, got {value!r}")


Seconds = Annotated[float, Range(gt=0)]
"""A duration in seconds: zero or a negative number is refused (every request would time out at once)."""


@cache
def field_help(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (and of its bases)."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body
        for node, following in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                helps[node.target.id] = " ".join(following.value.value.split())
    return helps


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _describe(typing.get_args(annotation)[0])
    if origin is Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(annotation))
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def coerce(name: str, annotation: Any, value: Any) -> Any:
    """Check `value` against `annotation` (converting int → float and a scalar → one-item list)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        value = coerce(name, args[0], value)
        for constraint in args[1:]:
            if isinstance(constraint, Range):
                constraint.check(name, value)
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(name, arg, value)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{name}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is list:
        (item_type,) = args or (Any,)
        items = value if isinstance(value, list) else [value]
        if isinstance(value, str) and "," in value:
            # "repeat,paraphrase" from the command line; a lone "," (e.g. a stop string) stays one item
            items = [part.strip() for part in value.split(",") if part.strip()] or [value]
        return [coerce(f"{name}[{i}]", item_type, item) for i, item in enumerate(items)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {value!r}")
        key_type, value_type = args or (Any, Any)
        return {coerce(name, key_type, k): coerce(f"{name}.{k}", value_type, v) for k, v in value.items()}
    if annotation is Any:
        _reject_non_finite(name, value)
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if annotation is float and not isinstance(value, bool):
        # YAML 1.1 reads "3e-4" (no dot) as a string; accept it as the float everyone means
        with contextlib.suppress(TypeError, ValueError):
            return _reject_non_finite(name, float(value))
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(_reject_non_finite(name, value))
    if (
        isinstance(annotation, type)
        and isinstance(value, annotation)
        and not (annotation is int and isinstance(value, bool))
    ):
        return value
    raise ConfigError(f"{name}: expected {_describe(annotation)}, got {value!r}")


def _reject_non_finite(name: str, value: Any) -> Any:
    """`value`, unless a float in it is NaN or infinite (`learning_rate=nan` would train nothing, silently)."""
    pending = [(name, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{where}: must be a finite number, got {item!r}")
        if isinstance(item, dict):
            pending.extend((f"{where}.{key}", child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` → (key, YAML-typed value): `lr=3e-4` gives a float, `steps=[repeat,paraphrase]` a list."""
    if "=" not in text:
        raise ConfigError(f"expected key=value, got '{text}'")
    key, raw = text.split("=", 1)
    return key.strip(), _parse_value(raw)


def set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """`train.epochs=1` sets values["train"]["epochs"]: overrides reach into mapping-valued sections."""
    *parents, leaf = key.split(".")
    for part in parents:
        child = values.get(part)
        if not isinstance(child, dict):
            child = values[part] = dict(child or {})
        values = child
    values[leaf] = value


def build(cls: type[C], values: dict[str, Any], *, context: str = "config") -> C:
    """A validated `cls` instance from a mapping; unknown keys are an error with a suggestion."""
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{context}: unknown key '{key}'{hint}")
        kwargs[key] = coerce(key, hints[key], value)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{context}: missing required key(s): {', '.join(missing)}")
    instance = cls(**kwargs)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        validate()
    return instance


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-data form of a config, for manifests and for saving the resolved config."""
    return dataclasses.asdict(config)


# ---- CLI: every dataclass field becomes an option; YAML files and key=value overrides are positional ----


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, *, positional: str | None = None
) -> None:
    """Add `--field-name` for every field (help = its docstring) and a positional list for configs/overrides.

    `positional` names a list field that bare arguments fill (e.g. augment's input files); arguments that end in
    .yaml/.yml are config files and arguments with '=' are overrides.
    """
    helps = field_help(cls)
    hints = _type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.name == positional:
            continue
        annotation = hints[f.name]
        option = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = helps.get(f.name, "")
        if default not in (None, "", [], {}) and f.default is not dataclasses.MISSING:
            help_text += f" [default: {default}]"
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            help_text += " [required]"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = _metavar(annotation)
        parser.add_argument(option, **kwargs)
    parser.add_argument(
        "args",
        nargs="*",
        metavar="CONFIG.yaml|key=value" + (f"|{positional.upper()}" if positional else ""),
        help="YAML config files, key=value overrides" + (f", and {positional} paths" if positional else ""),
    )


def _metavar(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _metavar(typing.get_args(annotation)[0])
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if origin in (Union, types.UnionType) and len(args) == 1:
        return _metavar(args[0])
    if origin is Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    if origin is list:
        return "A,B,..."
    if origin is dict:
        return "{K: V}"
    return {int: "N", float: "X", str: "TEXT"}.get(annotation, "VALUE")


def config_from_args(cls: type[C], namespace: argparse.Namespace, *, positional: str | None = None) -> C:
    """Merge, in this order: YAML files, key=value overrides, --options. Later wins."""
    values: dict[str, Any] = {}
    bare: list[str] = []
    for arg in namespace.args:
        if arg.endswith((".yaml", ".yml")) and "=" not in arg:
            values.update(load_yaml(arg))
        elif "=" in arg and not Path(arg).exists():
            key, value = parse_override(arg)
            set_dotted(values, key, value)
        else:
            bare.append(arg)
    if bare:
        if positional is None:
            raise ConfigError(f"unexpected argument(s): {' '.join(bare)}")
        values[positional] = list(values.get(positional, [])) + bare
    hints = _type_hints(cls)
    for name, value in vars(namespace).items():
        if name in hints and name != "args":
            # argparse hands over strings; read them as YAML scalars/lists unless the field is a string
            values[name] = _parse_value(value) if isinstance(value, str) and hints[name] is not str else value
    return build(cls, values)


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw
