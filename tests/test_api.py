"""Checks that run over every public object: docstrings, examples, errors, exports."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import survey
from survey.errors import SurveyError


def _public():
    for info in pkgutil.walk_packages(survey.__path__, "survey."):
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == info.name:
                yield info.name, name, obj


PUBLIC = sorted(_public(), key=lambda t: (t[0], t[1]))


def test_top_level_names_are_few_and_resolve():
    assert 10 <= len(survey.__all__) <= 25
    for name in survey.__all__:
        assert getattr(survey, name) is not None


@pytest.mark.parametrize("module,name,obj", PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_every_public_object_is_documented(module, name, obj):
    doc = inspect.getdoc(obj)
    assert doc and len(doc) > 20, f"{module}.{name} has no docstring"
    if inspect.isfunction(obj):
        assert "Examples" in doc, f"{module}.{name}: numpydoc 'Examples' section missing"


def test_every_error_is_a_survey_error_and_a_value_error():
    import survey.errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        if name == "SurveyWarning":
            assert issubclass(cls, UserWarning)
        else:
            assert issubclass(cls, SurveyError) and issubclass(cls, ValueError)


def test_no_bare_assert_in_library_code():
    import pathlib
    import re

    root = pathlib.Path(survey.__file__).parent
    offenders = [
        f"{p.relative_to(root)}:{i + 1}"
        for p in root.rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines())
        if re.match(r"\s*assert\s", line)
    ]
    assert not offenders, offenders
