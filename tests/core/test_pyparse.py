"""parse_python: ast.parse behind one lock, safe from many threads, quiet on data-set escapes."""

from __future__ import annotations

import ast
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from palestra.core.pyparse import parse_python

# deep enough that the parser's recursion bookkeeping is busy when threads interleave
SOURCE = "def f(x):\n    return " + "(" * 60 + "x" + ")" * 60 + " + len('\\w')\n"


def test_many_threads_parse_the_same_tree() -> None:
    want = ast.dump(parse_python(SOURCE))
    with ThreadPoolExecutor(8) as pool:
        dumps = list(pool.map(lambda _: ast.dump(parse_python(SOURCE)), range(400)))
    assert set(dumps) == {want}


def test_modes_errors_and_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape would raise here if not silenced
        tree = parse_python(SOURCE)
    assert isinstance(tree, ast.Module)
    assert isinstance(parse_python("1 + 2", mode="eval"), ast.Expression)
    with pytest.raises(SyntaxError):
        parse_python("def (:")
