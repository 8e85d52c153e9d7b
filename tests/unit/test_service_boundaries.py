"""No service imports another: what two services share lives in `laneway/` (docs/architecture
of each service owning its routes, tables and migrations)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative ones resolved from `root`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from services import worklist` names the service in the alias
            if module == "services":
                found.extend((node.lineno, f"services.{a.name}") for a in node.names)
    return found


def foreign_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line: module` for each import of a service other than the file's own."""
    own = path.relative_to(root / "services").parts[0]
    out = []
    for line, module in imported_modules(path, root):
        parts = module.split(".")
        if len(parts) >= 2 and parts[0] == "services" and parts[1] != own:
            out.append(f"{path.relative_to(root)}:{line}: {module}")
    return out


def test_no_module_under_services_imports_another_service() -> None:
    modules = sorted(p for p in SERVICES.rglob("*.py") if p.parent != SERVICES)
    assert len(modules) > 20  # the walk found the services

    offending = [hit for path in modules for hit in foreign_imports(path)]

    assert offending == [], "move what services share to laneway/:\n" + "\n".join(offending)


def test_the_check_sees_absolute_relative_and_package_imports(tmp_path: Path) -> None:
    # given a module of one service importing another in each way Python allows
    module = tmp_path / "services" / "worklist" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("import services.audit.chain\n"
                      "from services.definitions import deps\n"
                      "from services import audit\n"
                      "from ..audit import sink\n"
                      "from . import store\n"
                      "from services.worklist import routes\n")
    # when checked
    hits = foreign_imports(module, tmp_path)

    # then each foreign import is named, and the service's own ones are not
    assert [h.split(": ", 1)[1] for h in hits] == [
        "services.audit.chain", "services.definitions", "services.audit", "services.audit"]
