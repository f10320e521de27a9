import pytest

from dltheory.core.errors import (
    ConfigError,
    DatasetNotFoundError,
    DltheoryError,
    choice_error,
    require_choice,
)


def test_choice_error_is_one_line_naming_the_value_and_every_choice():
    error = choice_error("dataset", "mnsit", ("digits", "mnist"))
    assert isinstance(error, ConfigError)
    assert str(error) == "unknown dataset 'mnsit'; choose one of: digits, mnist"
    assert "\n" not in str(error)


def test_require_choice_returns_a_valid_value_and_raises_the_given_class():
    assert require_choice("loss", "square", ["square", "logistic"]) == "square"
    with pytest.raises(DatasetNotFoundError, match=r"^unknown set 3; choose one of: 1, 2$"):
        require_choice("set", 3, iter([1, 2]), DatasetNotFoundError)
    with pytest.raises(DltheoryError, match="choose one of: a, b"):
        require_choice("key", "c", {"a": 1, "b": 2})
