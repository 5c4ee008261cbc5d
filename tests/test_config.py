import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest

from seqtune.config import Range, Seconds, build, field_help, parse_override
from seqtune.errors import ConfigError


@dataclass
class ToyConfig:
    name: str
    """The run's name."""
    lr: float = 3e-4
    """Learning rate."""
    epochs: int = 5
    steps: list[str] = field(default_factory=lambda: ["repeat"])
    """Intermediate steps, in order."""
    mode: Literal["lora", "full"] = "lora"
    packing: bool = True
    limit: int | None = None

    def validate(self):
        if self.epochs < 1:
            raise ConfigError("epochs: must be at least 1")


def test_field_docstrings_are_the_help_text():
    assert field_help(ToyConfig) == {
        "name": "The run's name.",
        "lr": "Learning rate.",
        "steps": "Intermediate steps, in order.",
    }


def test_overrides_are_typed_by_yaml():
    assert parse_override("lr=0.5") == ("lr", 0.5)
    assert build(ToyConfig, {"name": "x", "lr": parse_override("lr=1e-4")[1]}).lr == 1e-4
    assert parse_override("steps=[repeat, paraphrase]") == ("steps", ["repeat", "paraphrase"])
    assert parse_override("name=a=b") == ("name", "a=b")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("lr")


def test_build_coerces_and_validates():
    config = build(ToyConfig, {"name": 7, "lr": 1, "steps": "repeat,paraphrase", "limit": None})
    assert config.name == "7" and config.lr == 1.0 and isinstance(config.lr, float)
    assert config.steps == ["repeat", "paraphrase"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "x", "lrr": 1}, "unknown key 'lrr' \\(did you mean 'lr'\\?\\)"),
        ({}, "missing required key\\(s\\): name"),
        ({"name": "x", "epochs": "five"}, "epochs: expected int"),
        ({"name": "x", "epochs": True}, "epochs: expected int"),
        ({"name": "x", "mode": "qlora"}, "mode: must be one of 'lora', 'full'"),
        ({"name": "x", "packing": "yes"}, "packing: expected true or false"),
        ({"name": "x", "epochs": 0}, "epochs: must be at least 1"),
    ],
)
def test_build_rejects_bad_values_with_clear_messages(values, message):
    with pytest.raises(ConfigError, match=message):
        build(ToyConfig, values)


def test_dotted_overrides_reach_into_sections():
    from seqtune.config import set_dotted

    values = {"train": {"epochs": 5, "lr": 0.1}}
    set_dotted(values, "train.epochs", 1)
    set_dotted(values, "eval.limit", 3)
    assert values == {"train": {"epochs": 1, "lr": 0.1}, "eval": {"limit": 3}}


def test_a_comma_alone_stays_one_list_item():
    assert build(ToyConfig, {"name": "x", "steps": ","}).steps == [","]


def test_mapping_values_are_type_checked():
    @dataclass
    class Mixed:
        mix: dict[str, float] = field(default_factory=dict)

    assert build(Mixed, {"mix": {"sequential/zh": 4750}}).mix == {"sequential/zh": 4750.0}
    with pytest.raises(ConfigError, match="mix.sequential/zh: expected float"):
        build(Mixed, {"mix": {"sequential/zh": "many"}})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"lr": "nan"}, "lr"),  # what `lr=nan` on the command line gives (YAML reads it as a string)
        ({"lr": float("inf")}, "lr"),  # `lr=.inf`
        ({"lr": "-inf"}, "lr"),
        ({"lr": "1e999"}, "lr"),  # overflows to infinity
        ({"name": float("nan")}, "name"),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_option(values, field):
    with pytest.raises(ConfigError, match=rf"^{field}: must be a finite number"):
        build(ToyConfig, {"name": "x", **values})


def test_non_finite_numbers_are_refused_inside_lists_mappings_and_free_options():
    @dataclass
    class Nested:
        mix: dict[str, float] = field(default_factory=dict)
        weights: list[float] = field(default_factory=list)
        options: dict[str, Any] = field(default_factory=dict)

    with pytest.raises(ConfigError, match=r"^mix.sequential/zh: must be a finite number"):
        build(Nested, {"mix": {"sequential/zh": float("nan")}})
    with pytest.raises(ConfigError, match=r"^weights\[1\]: must be a finite number"):
        build(Nested, {"weights": [1.0, "inf"]})
    with pytest.raises(ConfigError, match=r"^options.sampling.temperature: must be a finite number"):
        build(Nested, {"options": {"sampling": {"temperature": float("nan")}}})
    assert build(Nested, {"options": {"a": [1.5, "nan"]}}).options == {"a": [1.5, "nan"]}  # a string stays


def test_bounds_written_in_the_annotation_are_checked():
    @dataclass
    class Timed:
        timeout: Seconds = 60.0
        share: Annotated[float, Range(ge=0, le=1)] = 0.5
        count: Annotated[int, Range(gt=0)] = 1

    assert build(Timed, {"timeout": 2, "share": 1, "count": 3}) == Timed(2.0, 1.0, 3)
    for values, message in [
        ({"timeout": 0}, "timeout: must be > 0, got 0.0"),
        ({"timeout": -5}, "timeout: must be > 0, got -5.0"),
        ({"timeout": "nan"}, "timeout: must be a finite number"),
        ({"share": 1.5}, "share: must be <= 1, got 1.5"),
        ({"count": 0}, "count: must be > 0, got 0"),
        ({"count": 1.5}, "count: expected int"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            build(Timed, values)
