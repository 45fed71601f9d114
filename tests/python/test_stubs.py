"""The type stubs (`__init__.pyi`, `jobs.pyi`) match the runtime module exactly, both ways:
every public name and class member at runtime is in the stubs and the other way round, and
methods take the same parameters."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType

import phaseloop
import phaseloop.jobs
import pytest

PACKAGE = Path(phaseloop.__file__).parent


def public(name: str) -> bool:
    return not name.startswith("_") or name == "__version__"


def stub_tree(module: ModuleType) -> ast.Module:
    stub = Path(module.__file__).with_suffix(".pyi")  # type: ignore[arg-type]
    return ast.parse(stub.read_text())


def stub_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            # Only explicit re-exports (`import x as x`) are public in a stub.
            names.update(
                a.asname for a in node.names if a.asname and a.asname == a.name
            )
    return {name for name in names if public(name) and name != "__all__"}


def stub_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and public(node.name)
    }


def members(cls: ast.ClassDef) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return {name: node for name, node in found.items() if not name.startswith("_")}


def runtime_members(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


MODULES = [phaseloop, phaseloop.jobs]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_module_names_match_both_ways(module: ModuleType) -> None:
    runtime = {
        name for name in dir(module) if public(name) and not name.startswith("__")
    }
    runtime |= {"__version__"} if hasattr(module, "__version__") else set()
    stubs = stub_names(stub_tree(module))
    if module is phaseloop.jobs:
        runtime.discard("NativeJob")  # imported from the package, typed there
        stubs.discard("NativeJob")
    assert runtime - stubs == set(), "in the runtime, missing from the stubs"
    assert stubs - runtime == set(), "in the stubs, missing from the runtime"
    assert sorted(module.__all__) == sorted(stubs)


@pytest.mark.parametrize("name", sorted(stub_classes(stub_tree(phaseloop))))
def test_class_members_match_both_ways(name: str) -> None:
    cls = getattr(phaseloop, name)
    stub = members(stub_classes(stub_tree(phaseloop))[name])
    runtime = runtime_members(cls)
    assert runtime - set(stub) == set(), (
        f"{name}: in the runtime, missing from the stubs"
    )
    assert set(stub) - runtime == set(), (
        f"{name}: in the stubs, missing from the runtime"
    )


def stub_params(node: ast.FunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args][1:]  # without self
    if args.vararg:
        names.append("*" + args.vararg.arg)
    names += [a.arg for a in args.kwonlyargs]
    return names


def runtime_params(fn: object) -> list[str] | None:
    try:
        signature = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    names = []
    for param in list(signature.parameters.values()):
        if param.name in ("self", "$self"):
            continue
        names.append(("*" if param.kind is param.VAR_POSITIONAL else "") + param.name)
    return names


@pytest.mark.parametrize("name", sorted(stub_classes(stub_tree(phaseloop))))
def test_method_parameters_match(name: str) -> None:
    cls = getattr(phaseloop, name)
    for member, node in members(stub_classes(stub_tree(phaseloop))[name]).items():
        if not isinstance(node, ast.FunctionDef) or any(
            isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list
        ):
            continue
        runtime = runtime_params(getattr(cls, member))
        if runtime is not None:
            assert runtime == stub_params(node), f"{name}.{member}"


def test_the_loop_constructor_parameters_match() -> None:
    loop_stub = stub_classes(stub_tree(phaseloop))["Loop"]
    init = next(
        n
        for n in loop_stub.body
        if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    )
    assert runtime_params(phaseloop.Loop) == stub_params(init)
