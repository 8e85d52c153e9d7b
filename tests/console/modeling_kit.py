"""What the modeler and definitions tests share: signing in through the development picker, and
examples/permit as a file of its own for one test (a fresh process id and form ids: the tests
of a module share one Laneway, and a form id is global to it), with its forms uploaded.

    sign_in(page, console.public_url, "admin", "/modeler")
    permit = permit_file(console.public_url, tmp_path)
    page.set_input_files("#modeler-import", permit.path)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.auth import auth_header
from tests.console.permit import EXAMPLE, permit_with_forms

__all__ = ["EXAMPLE", "PermitFile", "modeler_headers", "permit_file"]



def modeler_headers() -> dict[str, str]:
    """A modeler's token (uploads forms, reads what was deployed)."""
    return auth_header("ana", roles=["modeler"])


@dataclass(frozen=True)
class PermitFile:
    """examples/permit/permit.bpmn under ids of its own, on disk for the modeler to import."""

    process_id: str
    path: Path
    forms: dict[str, str]
    """The example's form ids (`permit-application`) and the ids they were uploaded under."""


def permit_file(base_url: str, directory: Path) -> PermitFile:
    """Write the permit with a fresh process id and form ids into `directory`, and upload its
    forms under those ids."""
    process_id, xml, forms = permit_with_forms(base_url, modeler_headers())
    path = directory / f"{process_id}.bpmn"
    path.write_text(xml, encoding="utf-8")
    return PermitFile(process_id, path, forms)
