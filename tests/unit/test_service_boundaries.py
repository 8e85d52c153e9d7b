"""Each service stands alone: no service imports another (what two services share lives in
`laneway/`), and routes reach their settings through the service's parts, never by reading
the environment in a request."""

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


def environment_reads(path: Path) -> list[str]:
    """`file:line: what` for each read of the environment or of settings in the module."""
    return environment_reads_in(path, ROOT)


def environment_reads_in(path: Path, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        name = (node.attr if isinstance(node, ast.Attribute)
                else node.id if isinstance(node, ast.Name) else None)
        if name in {"environ", "getenv", "from_env", "load_settings"}:
            out.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return out


def test_routes_reach_their_settings_through_their_parts_never_the_environment() -> None:
    # every service's route modules and their dependency module
    modules = sorted({*SERVICES.glob("*/routes.py"), *SERVICES.glob("*/routes/*.py"),
                      *SERVICES.glob("*/deps.py")})
    assert {p.relative_to(SERVICES).parts[0] for p in modules} == {
        "definitions", "worklist", "audit", "triggers"}

    reads = [hit for path in modules for hit in environment_reads(path)]

    assert reads == []


def test_the_environment_check_sees_each_way_of_reading_it(tmp_path: Path) -> None:
    module = tmp_path / "routes.py"
    module.write_text("import os\nfrom x import load_settings\n"
                      "a = os.environ['A']\nb = os.getenv('B')\nc = Settings.from_env('c')\n"
                      "d = load_settings()\n")

    hits = environment_reads_in(module, tmp_path)

    assert sorted(h.rsplit(": ", 1)[1] for h in hits) == [
        "environ", "from_env", "getenv", "load_settings"]
