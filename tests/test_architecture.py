"""The layering, checked on the source (a small AST walk over ``src/taxvault``; no dependency).

Rules (each failure names every offending ``file:line``):

1. **One event builder.** Outside ``access/`` and ``audit/`` no module builds an audit event:
   no ``AuditEvent(...)``, no ``AuditEvent.<anything>(...)`` (``now``, ``from_bytes``...), and no
   import of ``AuditEvent`` except under ``if TYPE_CHECKING:`` (annotations only). Everything
   else records through the door (``Unit.audit``), whose events come from
   :func:`taxvault.access.events.event`.
2. **api/ is the top.** No module outside ``api/`` imports ``taxvault.api`` (domains raise the
   errors in ``taxvault/errors.py``; api maps them to HTTP). The one exception is the entry
   point ``taxvault/cli.py``, which assembles every command and serves the app (``serve``).
3. **HTTP stays at the edge.** FastAPI and Starlette are imported only in ``api/``, in the console
   ``web/`` (an HTTP edge too: pages over the same door), in the door's HTTP adapter
   ``access/http.py`` and in each domain's ``router.py``.
4. **No side entrance.** No module imports ``taxvault.access.gate`` (the old Gate, being removed;
   the door in ``access/door.py`` replaces it) and the module itself is gone.
5. **Orchestration above the domains.** ``ledger/`` does not import ``notices/`` (notices reads
   the ledger; the posting cycle that strings both together is ``jobs/cycle.py``), and no module
   imports ``taxvault.jobs`` except ``jobs/`` itself, ``api/`` and the entry point ``cli.py``.
6. **Private stays private.** No module uses a leading-underscore name of another package
   (``from taxvault.ledger.router import _decide`` in ``web/``, or ``pipeline._known(...)`` in
   ``batch/``): what a domain lends to another is a public service function it owns, documented
   and kept stable. Within one package (``ledger/router.py`` using ``ledger/adjustments.py``)
   a private name may cross modules. Each top-level module (``cli.py``, ``errors.py``) counts
   as a package of its own; dunders (``__version__``) are not private.

Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "taxvault"
ENTRY_POINT = "cli.py"


def _modules() -> Iterator[tuple[str, ast.Module]]:
    yield from _parsed()


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the package, parsed once for all the checks (the trees are only read)."""
    return tuple(
        (rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel))
        for path in sorted(SRC.rglob("*.py"))
        for rel in [path.relative_to(SRC).as_posix()]
    )


def _package(rel: str) -> str:
    """``ledger`` for ``ledger/posting.py``; ``""`` for a top-level module such as ``cli.py``."""
    return rel.split("/", 1)[0] if "/" in rel else ""


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, most specific module imported) for every absolute import.

    ``from taxvault import api`` imports the package ``taxvault.api``: the module reported
    is then ``taxvault.api`` (the longest dotted name the statement may load).
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for sub in ast.walk(child):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def _is(module: str, prefix: str) -> bool:
    """``module`` is ``prefix`` or inside it (``from taxvault.api.x import y`` gives ``taxvault.api.x.y``)."""
    return module == prefix or module.startswith(prefix + ".")


def _fail_with(offenders: list[str], rule: str) -> None:
    assert not offenders, f"{rule}:\n  " + "\n  ".join(offenders)


def test_only_access_and_audit_build_audit_events() -> None:
    offenders = []
    for rel, tree in _modules():
        if _package(rel) in ("access", "audit"):
            continue
        typing_only = _type_checking_lines(tree)
        for line, module in _imports(tree):
            if _is(module, "taxvault") and module.endswith(".AuditEvent") and line not in typing_only:
                offenders.append(f"{rel}:{line}: imports AuditEvent")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "AuditEvent":
                offenders.append(f"{rel}:{node.lineno}: AuditEvent(...)")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "AuditEvent":
                offenders.append(f"{rel}:{node.lineno}: AuditEvent.{func.attr}(...)")
    _fail_with(offenders, "audit events are built only by access/ (taxvault.access.events) and audit/")


def test_nothing_below_api_imports_api() -> None:
    offenders = [
        f"{rel}:{line}: imports {module}"
        for rel, tree in _modules()
        if _package(rel) != "api" and rel != ENTRY_POINT
        for line, module in _imports(tree)
        if _is(module, "taxvault.api")
    ]
    _fail_with(offenders, "only api/ (and the entry point cli.py) may import taxvault.api")


def test_http_frameworks_only_at_the_edge() -> None:
    def allowed(rel: str) -> bool:
        return _package(rel) in ("api", "web") or rel == "access/http.py" or rel.endswith("/router.py")

    offenders = [
        f"{rel}:{line}: imports {module}"
        for rel, tree in _modules()
        if not allowed(rel)
        for line, module in _imports(tree)
        if _is(module, "fastapi") or _is(module, "starlette")
    ]
    _fail_with(offenders, "FastAPI/Starlette only in api/, access/http.py and */router.py")


def test_no_module_imports_the_old_gate() -> None:
    offenders = [
        f"{rel}:{line}: imports {module}"
        for rel, tree in _modules()
        for line, module in _imports(tree)
        if _is(module, "taxvault.access.gate")
    ]
    if (SRC / "access" / "gate.py").exists():
        offenders.append("access/gate.py:1: the old Gate still exists (the door replaces it)")
    _fail_with(offenders, "taxvault.access.gate is removed: use taxvault.access.door")


def test_orchestration_lives_in_jobs_above_the_domains() -> None:
    offenders = []
    for rel, tree in _modules():
        package = _package(rel)
        for line, module in _imports(tree):
            if package == "ledger" and _is(module, "taxvault.notices"):
                offenders.append(f"{rel}:{line}: ledger imports {module}")
            if _is(module, "taxvault.jobs") and package not in ("jobs", "api") and rel != ENTRY_POINT:
                offenders.append(f"{rel}:{line}: a domain imports {module}")
    _fail_with(offenders, "ledger/ must not import notices/, and no domain imports jobs/")


def _unit(module: str) -> str:
    """``ledger`` for ``taxvault.ledger.router._decide``; ``cli`` for ``taxvault.cli``; ``""`` outside taxvault."""
    parts = module.split(".")
    return parts[1] if parts[0] == "taxvault" and len(parts) > 1 else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(rel: str, node: ast.ImportFrom) -> str:
    """The absolute module of a ``from`` import in file ``rel`` (relative ones resolved)."""
    if node.level == 0:
        return node.module or ""
    here = ["taxvault", *rel.removesuffix(".py").split("/")][: -node.level]
    return ".".join([*here, *([node.module] if node.module else [])])


def _dotted(node: ast.expr) -> tuple[str, list[str]] | None:
    """``("a", ["b", "c"])`` for the expression ``a.b.c``; None if it is not a dotted name."""
    chain: list[str] = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    return (node.id, chain[::-1]) if isinstance(node, ast.Name) else None


def _private_crossings(rel: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, what) for each use in ``rel`` of a private name that another package owns.

    Two forms: ``from taxvault.<other>... import _name`` and ``<name bound to a taxvault
    object of another package>._name`` (``from taxvault.ingest import pipeline`` then
    ``pipeline._known``; ``import taxvault.ledger.router`` then ``taxvault.ledger.router._decide``).
    """
    here = _unit(f"taxvault.{rel.removesuffix('.py').replace('/', '.')}")
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _absolute(rel, node)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if _unit(full) and _unit(full) != here and _private(alias.name):
                    yield node.lineno, f"from {module} import {alias.name}"
                bound[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        found = _dotted(node.value)
        if found is None or found[0] not in bound:
            continue
        owner = ".".join([bound[found[0]], *found[1]])
        if _unit(owner) and _unit(owner) != here:
            yield node.lineno, f"{owner}.{node.attr}"


def test_no_private_name_crosses_packages() -> None:
    offenders = [
        f"{rel}:{line}: uses {what}" for rel, tree in _modules() for line, what in _private_crossings(rel, tree)
    ]
    _fail_with(offenders, "a private (_name) of another package: make it a public service function of its owner")


def test_the_checks_see_what_they_forbid() -> None:
    """The walker finds lazy imports, ``from taxvault import api`` and AuditEvent calls (no vacuous pass)."""
    tree = ast.parse(
        "def f():\n"
        "    from taxvault import api\n"
        "    from taxvault.audit import AuditEvent\n"
        "    return AuditEvent.now()\n"
    )
    found = {module for _, module in _imports(tree)}
    assert "taxvault.api" in found and "taxvault.audit.AuditEvent" in found
    assert any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) for n in ast.walk(tree))
    guarded = ast.parse("if TYPE_CHECKING:\n    from taxvault.audit import AuditEvent\n")
    assert 2 in _type_checking_lines(guarded)
    assert sum(1 for _ in _modules()) > 50, "the walk must cover the package"
    crossing = ast.parse(
        "import taxvault.ledger.router\n"
        "import taxvault.ingest.cli as ingest_cli\n"
        "from taxvault.ingest import pipeline\n"
        "from taxvault.ledger.router import _decide, decide\n"
        "from ..ingest.pipeline import _known\n"
        "def f():\n"
        "    from taxvault.web.kit import _ENV\n"
        "    pipeline._PG_LOCK_KEY, taxvault.ledger.router._view, ingest_cli._line, pipeline.__name__\n"
        "    from taxvault.batch.stage import _own\n"
        "    from taxvault.batch import stage\n"
        "    return stage._own\n"
    )
    seen = sorted(what for _, what in _private_crossings("batch/ingest.py", crossing))
    assert seen == [
        "from taxvault.ingest.pipeline import _known",
        "from taxvault.ledger.router import _decide",
        "from taxvault.web.kit import _ENV",
        "taxvault.ingest.cli._line",
        "taxvault.ingest.pipeline._PG_LOCK_KEY",
        "taxvault.ledger.router._view",
    ], seen
