"""The type stubs (`__init__.pyi`, `jobs.pyi`) match the runtime module exactly, both ways:
every public name and class member at runtime is in the stubs and the other way round, and
methods take the same parameters."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import phaseloop
import phaseloop.asyncio
import phaseloop.asyncio_core_transport
import phaseloop.asyncio_datagram
import phaseloop.asyncio_trace
import phaseloop.asyncio_transports
import phaseloop.child_process
import phaseloop.cli
import phaseloop.demo
import phaseloop.dgram
import phaseloop.dns
import phaseloop.experiment
import phaseloop.jobs
import phaseloop.net
import phaseloop.svg
import phaseloop.timeline
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
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
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
    # A submodule the package does not import itself is an attribute only once imported.
    runtime -= {m.__name__.rpartition(".")[2] for m in PURE_PYTHON}
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


# The pure-Python modules (`python -m phaseloop` and its parts) have stubs too. Their runtime
# namespace also holds what they import, so `__all__` is the runtime's list of public names.
PURE_PYTHON = [
    phaseloop.asyncio,
    phaseloop.asyncio_core_transport,
    phaseloop.asyncio_datagram,
    phaseloop.asyncio_trace,
    phaseloop.asyncio_transports,
    phaseloop.child_process,
    phaseloop.cli,
    phaseloop.demo,
    phaseloop.dgram,
    phaseloop.dns,
    phaseloop.experiment,
    phaseloop.net,
    phaseloop.svg,
    phaseloop.timeline,
]


def stub_all(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List)
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    raise AssertionError("the stub has no __all__")


@pytest.mark.parametrize("module", PURE_PYTHON, ids=lambda m: m.__name__)
def test_pure_python_module_names_match_both_ways(module: ModuleType) -> None:
    tree = stub_tree(module)
    assert sorted(module.__all__) == sorted(stub_names(tree))
    assert sorted(module.__all__) == sorted(stub_all(tree))
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], "in __all__, missing at runtime"
    defined_here = {
        name
        for name, value in vars(module).items()
        if public(name)
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined_here - set(module.__all__) == set(), "defined, not in __all__"


def pure_python_classes() -> list[tuple[ModuleType, str]]:
    return [
        (module, name)
        for module in PURE_PYTHON
        for name in sorted(stub_classes(stub_tree(module)))
    ]


@pytest.mark.parametrize(
    ("module", "name"), pure_python_classes(), ids=lambda x: getattr(x, "__name__", x)
)
def test_pure_python_class_members_match_both_ways(
    module: ModuleType, name: str
) -> None:
    cls = getattr(module, name)
    stub = members(stub_classes(stub_tree(module))[name])
    runtime = runtime_members(cls)
    assert runtime - set(stub) == set(), f"{name}: in the runtime, not in the stubs"
    # An attribute annotated in the stub and absent from the class is an instance attribute,
    # which its __init__ must set.
    instance = set(stub) - runtime
    init = inspect.getsource(cls.__init__) if instance else ""
    for attribute in instance:
        assert isinstance(stub[attribute], ast.AnnAssign), f"{name}.{attribute}"
        assert f"self.{attribute} " in init or f"self.{attribute}:" in init, (
            f"{name}.{attribute}: in the stubs, not set by __init__"
        )


def function_params(node: ast.FunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args]
    if args.vararg:
        names.append("*" + args.vararg.arg)
    return names + [a.arg for a in args.kwonlyargs]


def pure_python_functions() -> list[tuple[ModuleType, str | None, ast.FunctionDef]]:
    """Every function of the pure-Python stubs: (module, class name or None, stub node)."""
    found: list[tuple[ModuleType, str | None, ast.FunctionDef]] = []
    for module in PURE_PYTHON:
        tree = stub_tree(module)
        found += [
            (module, None, n) for n in tree.body if isinstance(n, ast.FunctionDef)
        ]
        for cls in stub_classes(tree).values():
            found += [
                (module, cls.name, n)
                for n in cls.body
                if isinstance(n, ast.FunctionDef)
            ]
    return found


@pytest.mark.parametrize(
    ("module", "owner", "node"),
    pure_python_functions(),
    ids=lambda x: getattr(x, "__name__", None) or getattr(x, "name", None) or str(x),
)
def test_pure_python_function_parameters_match(
    module: ModuleType, owner: str | None, node: ast.FunctionDef
) -> None:
    where = module if owner is None else getattr(module, owner)
    runtime = inspect.getattr_static(where, node.name)
    if isinstance(runtime, property):
        return  # a property has no parameters to compare
    signature = inspect.signature(runtime)
    kinds = {
        inspect.Parameter.VAR_POSITIONAL: "*",
        inspect.Parameter.VAR_KEYWORD: "**",
    }
    names = [kinds.get(p.kind, "") + p.name for p in signature.parameters.values()]
    assert names == function_params(node), f"{module.__name__}.{owner}.{node.name}"


def test_stubtest_finds_the_pure_python_stubs_true(tmp_path: Path) -> None:
    """mypy's stubtest, when mypy is installed, also compares types, defaults and kinds."""
    pytest.importorskip("mypy.stubtest")
    # stubtest cannot compare a Literal alias with its runtime value (it expects a Union).
    allowlist = tmp_path / "allowlist"
    allowlist.write_text(
        "".join(f"phaseloop.experiment.{a}\n" for a in ("Clock", "Drain", "Status"))
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--allowlist", str(allowlist)]
        + [module.__name__ for module in PURE_PYTHON],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # not the checkout: stubtest must find the installed package
    )
    assert done.returncode == 0, done.stdout + done.stderr
