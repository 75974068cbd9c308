"""The code's shape, as README states it: the module layers match the imports, the run folder has one owner,
README is a map (not a journal), the notebooks type each parameter once."""
import ast
import glob
import os
import re

import nbformat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(REPO, "labkit")
RUN_FILES = ("config.json", "last.pth", "history.json", "best_model.pth", "result.json", "log.txt", "curves.png",
             "confusion_matrix.png", "real_check.json", ".lock")


def _modules():
    """{dotted name under labkit (packages as 'models/' units): path}"""
    out = {}
    for path in glob.glob(os.path.join(PKG, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, PKG)[:-3].split(os.sep)
        if rel == ["__init__"]:
            continue
        out[".".join(x for x in rel if x != "__init__")] = path
    return out


def _unit(name):
    """The README row a module belongs to: a package counts as one unit ('models/')."""
    head = name.split(".")[0]
    return head + "/" if os.path.isdir(os.path.join(PKG, head)) else head


def _imports(name, path):
    """The labkit modules (as units) ``name`` imports, the package facade left out."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    pkg = name.split(".")[:-1] if not path.endswith("__init__.py") else name.split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(_unit(".".join(target)))
        elif isinstance(node, ast.Import):
            found |= {_unit(a.name[len("labkit."):]) for a in node.names if a.name.startswith("labkit.")}
    return found - {_unit(name)}


def _readme_layers():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    layers = {}
    for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", text, re.M):
        for unit in re.findall(r"`([\w/]+)`", m.group(2)):
            layers[unit] = int(m.group(1))
    return layers


def test_readme_is_a_map_within_250_lines():
    lines = open(os.path.join(REPO, "README.md"), encoding="utf-8").read().splitlines()
    assert len(lines) <= 250
    assert "bash scripts/setup.sh && .venv/bin/papermill notebooks/task1_simplecnn.ipynb" in "\n".join(lines)
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in "\n".join(lines)


def test_readme_module_layers_match_the_imports():
    layers = _readme_layers()
    modules = _modules()
    units = {_unit(n) for n in modules}
    assert units == set(layers), f"README's table lists {sorted(set(layers) - units)} that do not exist and misses " \
                                 f"{sorted(units - set(layers))}"
    wrong = [f"{name} (layer {layers[_unit(name)]}) imports {dep} (layer {layers[dep]})"
             for name, path in modules.items() for dep in _imports(name, path)
             if dep in layers and layers[dep] >= layers[_unit(name)]]
    assert not wrong, wrong


def test_run_folder_names_are_spelled_in_runs_alone():
    """The run folder's file names appear as string literals in labkit/runs/layout.py only (messages aside)."""
    offenders = []
    for name, path in _modules().items():
        if name == "runs.layout":
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Constant) and node.value in RUN_FILES:
                offenders.append(f"{name}: {node.value!r}")
    assert not offenders, offenders
    for path in glob.glob(os.path.join(PKG, "runs", "*.py")):
        runs = open(path, encoding="utf-8").read()
        assert "from ..evaluate" not in runs and "from ..train" not in runs, path  # the folder, not the training


def test_functions_stay_short():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


def test_notebooks_type_each_parameter_once():
    """No notebook re-types its parameters (``name=name``); every setup cell shows only its output in the PDF."""
    for path in glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")) + [os.path.join(REPO, "reports",
                                                                                      "lab2_report.ipynb")]:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        setup = code[0]
        assert setup.source.startswith("# @title Setup")
        assert set(setup.metadata.get("tags", [])) & {"hide-input", "remove-cell"}, path
        declared = re.findall(r"^(\w+) = ", code[1].source, re.M)
        for c in code[2:]:
            retyped = [n for n in declared if re.search(rf"\b{n}={n}\b", c.source)]
            assert not retyped, (path, retyped)
        assert any("parameters(" in c.source for c in code), path
