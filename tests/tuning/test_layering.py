"""Tuning never imports inference, in any form: inference listens to tuning's signals instead."""

import ast
from pathlib import Path

from tests.conftest import REPO

IMPORTING_CALLS = ("import_module", "importlib.import_module", "__import__", "import_string")


def inference_imports(path: Path) -> list[tuple[int, str]]:
    """Every import of inference in the module, at any depth (functions, methods, conditionals), and
    every import_module/__import__/import_string call that names it: (line, module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            if ast.unparse(node.func) in IMPORTING_CALLS:
                names = [str(node.args[0].value)]
        found += [(node.lineno, name) for name in names if name == "inference" or name.startswith("inference.")]
    return sorted(found)


def test_tuning_contains_no_import_of_inference():
    modules = sorted((REPO / "tuning").rglob("*.py"))
    assert len(modules) > 10, "the tuning package was not found"
    found = [f"{path.relative_to(REPO)}:{line} {name}" for path in modules for line, name in inference_imports(path)]
    assert found == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text(
        "import inference\n"
        "def later():\n"
        "    from inference.evaluation import grading_agreement\n"
        "    if True:\n"
        "        import inference.engines.local as local\n"
        "    importlib.import_module('inference.tasks')\n"
        "    from informal import inference\n",
        encoding="utf-8",
    )
    assert inference_imports(module) == [
        (1, "inference"),
        (3, "inference.evaluation"),
        (5, "inference.engines.local"),
        (6, "inference.tasks"),
    ]
