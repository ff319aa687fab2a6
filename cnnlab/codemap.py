"""Which code each Snakemake job's results depend on, and a version of that code.

Snakemake judges a `script:` by its file's modification time, and not at all by the modules the
script imports. So every rule passes `code_version(script)` as a param, a hash of the
*contents* of the script and of every cnnlab module it runs, and the profiles leave `code` out
of Snakemake's rerun triggers: editing a model retrains, editing a plot only replots, and
nothing reruns for a new modification time alone (a copied or moved run folder, a fresh clone,
`git checkout`, `touch`).

The modules a script runs are computed, not listed: `script_modules` follows its imports with
`ast` (in function bodies too; relative imports resolved; `importlib.import_module` or
`__import__` of a constant name followed), then theirs. An import this cannot follow (a
computed module name) is refused with the file and line, rather than left out of the version.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPOSITORY = PACKAGE.parent
SCRIPTS = REPOSITORY / "scripts"
DYNAMIC_IMPORTS = {"import_module", "__import__"}

# Modules a job may skip for some configs, with the reason: the real (url or path) download
# never generates synthetic archives, so editing the generator must not re-extract 825 MB.
SYNTHETIC_ONLY = ["cnnlab/data/synthetic.py"]


class CodeMapError(ValueError):
    """An import the code map cannot follow; the message names the file and line."""


def code_version(script: str, leave_out: list[str] | tuple[str, ...] = ()) -> str:
    """A short hash of the contents of `script` (in scripts/) and of the modules its job runs
    (less `leave_out`)."""
    digest = hashlib.sha256()
    files = [f"scripts/{script}", *sorted(set(script_modules(script)) - set(leave_out))]
    for name in files:
        digest.update(name.encode() + b"\0" + (REPOSITORY / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def script_modules(script: str) -> tuple[str, ...]:
    """Every cnnlab module the job of `script` (a file name in scripts/) runs, sorted, as paths
    relative to the repository. Computed once per process (the DAG asks once per rule)."""
    return _script_modules(REPOSITORY, script)


@functools.cache
def _script_modules(repository: Path, script: str) -> tuple[str, ...]:
    path = repository / "scripts" / script
    if not path.is_file():
        raise CodeMapError(f"code_version('{script}'): no such script {path}")
    return tuple(sorted(imports_of(path, repository)))


def imports_of(path: Path, repository: Path | None = None) -> set[str]:
    """Every cnnlab module `path` runs: its imports of cnnlab anywhere in the file (functions
    too), then theirs, with the packages' __init__ files, as paths relative to `repository`."""
    repository = REPOSITORY if repository is None else repository
    found: set[str] = set()
    pending = [Path(path)]
    while pending:
        for module in _direct_imports(pending.pop(), repository):
            if module not in found:
                found.add(module)
                pending.append(repository / module)
    return found


def _direct_imports(path: Path, repository: Path) -> set[str]:
    package = _package_of(path, repository)
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package, path, node.lineno)
            # `from cnnlab.data import petimages` imports a module; `from cnnlab.jobio import
            # log_to` a name: try each as a module.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and _called_name(node.func) in DYNAMIC_IMPORTS:
            names = [_dynamic_import_target(node, package, path)]
        else:
            continue
        for name in names:
            if name == "cnnlab" or name.startswith("cnnlab."):
                modules |= _files_of(name, repository)
    return modules


def _package_of(path: Path, repository: Path) -> str | None:
    """The dotted package `path` belongs to ('cnnlab.data' for cnnlab/data/extract.py), or None
    outside the repository's packages (a script)."""
    try:
        parts = Path(path).resolve().relative_to(repository.resolve()).parts
    except ValueError:
        return None
    if parts[0] != "cnnlab":
        return None
    return ".".join(parts[:-1])


def _absolute(module: str, level: int, package: str | None, path: Path, line: int) -> str:
    """The absolute name of `from <level dots><module> import ...` in `package`."""
    if level == 0:
        return module
    if package is None:
        raise CodeMapError(f"{path}:{line}: a relative import outside the cnnlab package")
    parts = package.split(".")
    if level > len(parts):
        raise CodeMapError(f"{path}:{line}: a relative import beyond the top-level package")
    base = parts[: len(parts) - level + 1]
    return ".".join(base + ([module] if module else []))


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _dynamic_import_target(call: ast.Call, package: str | None, path: Path) -> str:
    """The module `import_module("...")` or `__import__("...")` imports: its name must be a
    constant (and a relative name's package too), or the code map could miss what it runs."""

    def constant(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise CodeMapError(
            f"{path}:{call.lineno}: {ast.unparse(call)} imports a module whose name is computed, "
            f"which cnnlab.codemap cannot follow: import it by a constant name"
        )

    if not call.args:
        raise CodeMapError(f"{path}:{call.lineno}: {ast.unparse(call)}: no module name")
    name = constant(call.args[0])
    if not name.startswith("."):
        return name
    # import_module(".x", package="cnnlab.data") or import_module(".x", "cnnlab.data")
    anchor = [keyword.value for keyword in call.keywords if keyword.arg == "package"]
    anchor += call.args[1:2] if _called_name(call.func) == "import_module" else []
    if not anchor:
        raise CodeMapError(
            f"{path}:{call.lineno}: {ast.unparse(call)}: a relative name without a package"
        )
    level = len(name) - len(name.lstrip("."))
    return _absolute(name.lstrip("."), level, constant(anchor[0]), path, call.lineno)


def _files_of(dotted: str, repository: Path) -> set[str]:
    """The files importing `dotted` runs: each package's __init__.py on the way, and the module
    (nothing when `dotted` names an attribute, not a module)."""
    parts = dotted.split(".")
    files = set()
    for depth in range(1, len(parts) + 1):
        folder = repository.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            files.add(f"{'/'.join(parts[:depth])}/__init__.py")
        elif folder.with_suffix(".py").is_file():
            files.add(f"{'/'.join(parts[:depth])}.py")
            break
        else:
            break
    return files
