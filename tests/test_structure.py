"""The code stays in pieces a reader can hold: no module over 600 lines, no function over 80
(migrations and tests aside). A module that grows past that becomes a package, one concern each."""

import ast

from tests.conftest import REPO

PACKAGES = ("core", "quizsite", "quizbank", "tuning", "inference")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_module_is_longer_than_600_lines():
    long = {
        str(path.relative_to(REPO)): lines
        for path in _modules()
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_80_lines():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_the_checks_see_the_code():
    # the walk finds the apps' modules (a wrong root would make both checks pass on nothing)
    found = {path.relative_to(REPO).parts[0] for path in _modules()}
    assert found == set(PACKAGES)
