"""The public API says what it returns: concrete return types on ``omnitok``'s functions and the ``Tokenizer``
protocol, and ``encode``/``decode`` docstrings of omnitok's tokenizers that state layout, range, dtype and gradient."""

from __future__ import annotations

import inspect
import typing

import pytest

import omnitok
from omnitok.models import Autoencoder
from omnitok.models.hybrid import SemanticAutoencoder
from omnitok.models.hybrid_decoupled import TeacherTokenizer


def _functions():
    for name in omnitok.__all__:
        obj = getattr(omnitok, name)
        if inspect.isfunction(obj):
            yield name, obj
    for name in ("encode", "decode"):
        yield f"Tokenizer.{name}", getattr(omnitok.Tokenizer, name)


@pytest.mark.parametrize(("name", "function"), list(_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_functions_return_concrete_types(name, function):
    hints = typing.get_type_hints(function)
    assert "return" in hints, f"{name} has no return annotation"
    assert hints["return"] is not typing.Any, f"{name} returns Any"


@pytest.mark.parametrize("cls", [Autoencoder, SemanticAutoencoder, TeacherTokenizer])
@pytest.mark.parametrize("method", ["encode", "decode"])
def test_encode_and_decode_docstrings_state_layout_range_dtype_and_gradient(cls, method):
    doc = inspect.getdoc(getattr(cls, method)) or ""
    assert "[B, " in doc, f"{cls.__name__}.{method}: no layout"
    assert "value_range" in doc, f"{cls.__name__}.{method}: no value range"
    assert "dtype" in doc or "float32" in doc or "int64" in doc, f"{cls.__name__}.{method}: no dtype"
    assert "gradient" in doc, f"{cls.__name__}.{method}: says nothing of gradients"
