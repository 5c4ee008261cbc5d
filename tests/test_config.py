from dataclasses import dataclass, field
from typing import Literal

import pytest

from seqtune.config import build, field_help, parse_override
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
