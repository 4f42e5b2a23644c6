"""The CLI's one error path and terminal hygiene, in memory."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from services.cli.kit import BadInputError, describe, explain, parse_date, terminal_safe


def test_terminal_safe_removes_ansi_escapes_and_control_characters_but_keeps_lines() -> None:
    text = "De\x1b[31mrood\x1b[0m notitie\x1b]0;titel\x07 met\x08\x07 bel\nen regel\ttab"

    assert "Derood notitie met bel\nen regel\ttab" == terminal_safe(text)


class Pupil(BaseModel):
    age: int


def test_a_validation_error_names_the_field_and_the_rule_never_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        Pupil.model_validate({"age": "Jan Jansen"})

    assert (2, "invalid: age: Input should be a valid integer, unable to parse string as an "
            "integer") == describe(caught.value)  # fmt: skip


def test_json_and_nesting_errors_are_bad_input() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads("{")

    assert 2 == describe(caught.value)[0]  # type: ignore[index]
    assert (2, "the input is nested too deeply") == describe(RecursionError())


def test_an_unexpected_error_says_only_its_kind() -> None:
    assert (1, "unexpected KeyError (--debug shows where)") == explain(KeyError("geheim"))


def test_a_date_option_that_is_not_a_date_names_the_option() -> None:
    with pytest.raises(BadInputError) as caught:
        parse_date("morgen", "--on")

    assert "--on: not a date (YYYY-MM-DD)" == str(caught.value)
