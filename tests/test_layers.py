"""Imports run downhill: the import graph of barlow_speech has no cycle and follows the layer table of
docs/development.md (the layout), and the remote-code files import nothing of the package but each other.

The graph is read from the source with `ast`: every `import` and `from ... import` of a module, at module level or
inside a function, absolute or relative. (`barlow_speech/__init__.py` also names `BarlowTwinsTrainer` and
`BarlowTwinsArguments` by string, loaded on first access: the package's face, not an import of its own code.)
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "barlow_speech"

# The layers, lowest first; a module may import modules of its own layer or of a lower one. An entry is a module or,
# ending in ".", every module of a folder; the longest entry that names a module places it.
LAYERS = [
    (
        "core",
        [
            "barlow_speech",  # __init__: the public API
            "barlow_speech.configuration_barlow",  # remote code: configuration, extractor, modeling
            "barlow_speech.feature_extraction_barlow",
            "barlow_speech.modeling_barlow",
            "barlow_speech.modeling_dino",
            "barlow_speech.arguments",  # the argument dataclasses' parser and their checks
            "barlow_speech.recipes",  # backbone presets and named encoders
            "barlow_speech.data_collator",
            "barlow_speech.results",  # result schemas, paper tasks, reading result files
            "barlow_speech.model_family",
            "barlow_speech.model_card",
            "barlow_speech.repo_folder",  # checkpoint loading and checking, writing a repo folder
            "barlow_speech.frames",  # frame embeddings on a time grid (HEAR, s3prl)
            "barlow_speech.shipped",  # the shipped encoders
        ],
    ),
    ("data", ["barlow_speech.data."]),
    ("training", ["barlow_speech.training."]),
    ("evaluation", ["barlow_speech.evaluation."]),
    (
        "apps",
        [
            "barlow_speech.demo",
            "barlow_speech.cli",
            "barlow_speech.hub",  # upload and `barlow-speech push`
            "barlow_speech.hear",
            "barlow_speech.s3prl",
            "barlow_speech.export",  # ONNX / torch.export and `barlow-speech export`
            "barlow_speech.evaluation.cli",
            "barlow_speech.evaluation.reproduce",
            "barlow_speech.metrics.",  # the `evaluate` modules
        ],
    ),
]
REMOTE_CODE = ("configuration_barlow", "feature_extraction_barlow", "modeling_barlow")
# What the remote-code files may import besides the standard library and each other: soundfile only inside the
# extractor's decoding of an undecoded `datasets` Audio entry (a path or bytes).
REMOTE_CODE_PACKAGES = {"torch", "numpy", "transformers", "soundfile"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names an import statement of `module` reads: modules, or `package.name` for a from-import (a
    submodule, or a name defined in the package)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative to the module's package (a package's __init__ is its own package)
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module
    return [f"{base}.{alias.name}" for alias in node.names]


def _resolve(name: str) -> str | None:
    """The package module a dotted name lies in (its longest prefix that is one), or None outside the package."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (itself excluded)."""
    graph = {}
    for module, path in MODULES.items():
        nodes = ast.walk(ast.parse(path.read_text(), str(path)))
        imports = [node for node in nodes if isinstance(node, ast.Import | ast.ImportFrom)]
        graph[module] = {_resolve(name) for node in imports for name in _imported(module, node)} - {None, module}
    return graph


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest entry that names `module`."""
    matches = [
        (len(entry), index)
        for index, (_, entries) in enumerate(LAYERS)
        for entry in entries
        if module == entry or (entry.endswith(".") and f"{module}.".startswith(entry))
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS here and to docs/development.md's table.")
    return max(matches)[1]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as `[a, b, ..., a]`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_import_graph_is_read_whole_relative_absolute_and_inside_functions():
    graph = import_graph()
    assert "barlow_speech.training.trainer" in graph["barlow_speech.training.dino"]  # `from .trainer import`
    assert "barlow_speech.data" in graph["barlow_speech.data.prepare"]  # `from . import` inside a function
    assert "barlow_speech.evaluation.probes" in graph["barlow_speech.metrics.linear_probe.linear_probe"]  # absolute
    assert "barlow_speech.hub" in graph["barlow_speech.cli"]  # inside a function


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_import_runs_to_the_same_layer_or_below():
    names = [name for name, _ in LAYERS]
    upward = [
        f"{module} ({names[layer_of(module)]}) imports {target} ({names[layer_of(target)]})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


@pytest.mark.parametrize("name", REMOTE_CODE)
def test_the_remote_code_files_import_only_torch_numpy_transformers_and_each_other(name):
    path = PACKAGE / f"{name}.py"
    foreign = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level != 1 or node.module not in REMOTE_CODE:
                foreign.append(f"from {'.' * node.level}{node.module or ''} import ...")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            tops = {alias.name.split(".")[0] for alias in node.names} if isinstance(node, ast.Import) else set()
            tops |= {node.module.split(".")[0]} if isinstance(node, ast.ImportFrom) else set()
            foreign += sorted(tops - REMOTE_CODE_PACKAGES - set(sys.stdlib_module_names))
    assert not foreign, f"{path.name} imports {foreign}: remote code loads where barlow_speech is not installed"
