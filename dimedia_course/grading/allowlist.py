"""The package copy a sandboxed kernel imports: an allow-list, not a deny-list.

A student's kernel gets a copy of :mod:`dimedia_course` that holds only the modules the code run in the
kernel needs: the modules the release notebook imports, the ones the set-up code of the hidden checks
imports, their transitive ``dimedia_course`` imports, and the package root (so ``import dimedia_course``
works as it does at home). Every other module is absent, private helpers and base classes included. A
module that computes an assignment's answers (named in ``BLOCKED`` or imported by ``REFERENCE_IMPORTS`` of
its ``grader_checks.py``) and is still needed has every top-level function and class stubbed out.

The copy also shadows the packages that students do not get (:data:`~dimedia_course.grading.bundle.
STUDENT_EXCLUDED`: diffusers, scikit-learn, the website and test tools): ``import diffusers`` in the kernel
raises :class:`ModuleNotFoundError`, as it does in the student environment. The shadow lives on the import
path; the files of those packages stay readable under the grading environment's ``site-packages`` (the
sandbox binds the environment read-only), so a kernel that loads them by path still finds them.
"""

from __future__ import annotations

import ast
import json
import shutil
from importlib import metadata
from pathlib import Path

__all__ = [
    "PACKAGE",
    "allowed_modules",
    "check_blocked",
    "code_imports",
    "KERNEL_KEEPS",
    "excluded_top_levels",
    "package_copy",
    "reference_modules",
    "reference_names",
]

PACKAGE = "dimedia_course"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHADOW_MESSAGE = "No module named {name!r}: it is not part of the student environment"


def _parse(source: str):
    """The AST of notebook or check code (IPython magics and shell lines dropped), or None."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    if module == PACKAGE:
        return package_dir / "__init__.py"
    rel = Path(*module.split(".")[1:])
    for path in (package_dir / rel.with_suffix(".py"), package_dir / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(tree, current: str = "", is_package: bool = False, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """The ``dimedia_course`` modules an AST imports (``from dimedia_course import forward`` names the
    submodule ``dimedia_course.forward`` when there is one); ``current`` resolves relative imports."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = current.split(".")
                parts = parts if is_package else parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if (m == PACKAGE or m.startswith(PACKAGE + ".")) and _module_file(m, package_dir)}


def code_imports(*sources: str) -> set[str]:
    """The ``dimedia_course`` modules that pieces of code import."""
    found: set[str] = set()
    for source in sources:
        tree = _parse(source)
        if tree is not None:
            found |= _imports(tree)
    return found


def allowed_modules(roots, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """``roots`` with every parent package and every ``dimedia_course`` module they import, transitively."""
    todo, seen = [PACKAGE, *roots], set()
    while todo:
        module = todo.pop()
        if module in seen or _module_file(module, package_dir) is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        path = _module_file(module, package_dir)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo += _imports(tree, module, path.name == "__init__.py", package_dir)
    return seen


def reference_names(checks) -> list[str]:
    """``"module:qualname"`` (or ``"module:"`` for a whole module) of every piece of reference code an
    assignment's hidden checks name: ``BLOCKED`` and what ``REFERENCE_IMPORTS`` imports."""
    names = list(dict.fromkeys(str(b) for b in checks.blocked))
    tree = _parse(checks.reference_imports or "")
    for node in ast.walk(tree) if tree is not None else []:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.append(f"{sub}:" if _module_file(sub) else f"{node.module}:{alias.name}")
        elif isinstance(node, ast.Import):
            names += [f"{a.name}:" for a in node.names if a.name.startswith(PACKAGE + ".")]
    return list(dict.fromkeys(names))


def reference_modules(checks) -> set[str]:
    """The modules holding an assignment's reference code."""
    return {name.partition(":")[0] for name in reference_names(checks)}


# Excluded from the student requirements but imported by what a kernel imports (monai -> huggingface_hub):
# shadowing them only prints an import error in every kernel.
KERNEL_KEEPS = ("httpx2", "httpcore2", "truststore")


def excluded_top_levels() -> list[str]:
    """Top-level import names of the installed distributions students do not get (diffusers, scikit-learn,
    nbgrader, the test and website tools), except :data:`KERNEL_KEEPS`."""
    from dimedia_course.grading.bundle import STUDENT_EXCLUDED

    names = set()
    for dist_name in STUDENT_EXCLUDED:
        if dist_name in KERNEL_KEEPS:
            continue
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            top = str(file).split("/")[0].removesuffix(".py")
            if top.isidentifier() and top != "__pycache__" and not top.endswith("_libs"):
                names.add(top)
    return sorted(names - {PACKAGE})


def _stub_module(path: Path, module: str) -> None:
    """Every top-level function and class of a module replaced by a stub (private ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    message = f"{module} is not available while grading: write your own implementation"
    raise_stub = ast.Raise(
        exc=ast.Call(func=ast.Name("NotImplementedError", ast.Load()), args=[ast.Constant(message)], keywords=[])
    )
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = [raise_stub]
        elif isinstance(node, ast.ClassDef):  # no base class, no method: only a constructor that raises
            init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
            init.body = [raise_stub]
            node.body, node.bases, node.keywords = [init], [], []
    path.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")


def check_blocked(blocked) -> None:
    """Every ``"dimedia_course.module:QualName"`` of ``BLOCKED`` names a definition that exists (a typo would
    leave a reference function unnamed); ``ValueError`` otherwise."""
    for entry in blocked:
        module, sep, qualname = str(entry).partition(":")
        path = _module_file(module) if sep and module.startswith(PACKAGE) and qualname else None
        if path is None:
            raise ValueError(f"BLOCKED: expected 'dimedia_course.module:QualName' of an existing module, got {entry!r}")
        scope = ast.parse(path.read_text(encoding="utf-8")).body
        for part in qualname.split("."):
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            node = next((n for n in scope if isinstance(n, kinds) and n.name == part), None)
            if node is None:
                raise ValueError(f"BLOCKED: {module}:{qualname} is not defined in {path.name}")
            scope = node.body


def package_copy(dest, checks, notebook_path) -> Path:
    """Write the allow-listed package copy for one assignment into ``dest`` (the folder to put on the
    kernel's ``PYTHONPATH``) and return ``dest``. ``dest/allowlist.json`` records what it holds."""
    import nbformat

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    nb = nbformat.read(str(notebook_path), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    code += [case.setup for cases in checks.checks.values() for case in cases]
    allowed = allowed_modules(code_imports(*code))
    check_blocked(checks.blocked)
    target = dest / PACKAGE
    for module in sorted(allowed):
        source = _module_file(module)
        copy = target / source.relative_to(PACKAGE_DIR)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)
    references = reference_modules(checks) & allowed - {PACKAGE}
    for module in sorted(references):
        _stub_module(_module_file(module, target), module)
    shadows = excluded_top_levels()
    for name in shadows:
        (dest / name).mkdir()
        (dest / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({SHADOW_MESSAGE.format(name=name)!r}, name={name!r})\n", encoding="utf-8"
        )
    record = {"modules": sorted(allowed), "stubbed_modules": sorted(references), "shadowed": shadows}
    (dest / "allowlist.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest
