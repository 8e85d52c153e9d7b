"""The instance projection's routes: one instance's projected state, and the search.

`POST /api/instances` (starting an instance) is the definitions service's; the edge routes the
one path by method (edge/routes.toml).

Variables are what people entered: `operator` and `auditor` (and `admin`) read every
instance, anyone else only the instances they take part in (`services.audit.instances`);
another instance is 404, as if it were not there, and missing from the search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from laneway.auth.http import TOKEN_REQUIRED, Authenticated
from laneway.records import Principal
from laneway.web.bounds import MAX_INT
from services.audit.deps import Deps
from services.audit.instances import InstanceRow
from services.audit.models import InstancePage, InstanceStatus, InstanceView

router = APIRouter(prefix="/api/instances", tags=["instances"], dependencies=TOKEN_REQUIRED)


@router.get("/{instance_id}", summary="An instance's projected state",
            responses={404: {"description": "No such instance (yet)."}})
def get_instance(instance_id: str, deps: Deps, principal: Authenticated) -> InstanceView:
    """An instance as last seen on the `state` topic; without the role operator or auditor,
    only one the caller takes part in."""
    row = deps.instances.get(instance_id, reader=reader(principal))
    if row is None:
        raise not_found(instance_id)
    return _view(row)


@router.get("", summary="Search instances")
def list_instances(
    deps: Deps,
    principal: Authenticated,
    process_id: Annotated[str | None, Query(alias="processId",
                                            description="Only this process.")] = None,
    status_: Annotated[InstanceStatus | None, Query(alias="status",
                                                    description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> InstancePage:
    """Instances by process and status, most recently updated first; without the role
    operator or auditor, only those the caller takes part in."""
    count, rows = deps.instances.search(process_id, status_, limit, offset,
                                        reader=reader(principal))
    return InstancePage(count=count, items=[_view(r) for r in rows])


def reader(principal: Principal) -> Principal | None:
    """None (every instance) for the roles that oversee instances, else the principal."""
    return None if principal.has_role("operator", "auditor") else principal


def not_found(instance_id: str) -> HTTPException:
    """The 404 of an instance the caller may not read, or that is not projected yet."""
    return HTTPException(status.HTTP_404_NOT_FOUND,
                         f"Expected an instance '{instance_id}', but there is none you may "
                         "read (an instance shows here once the engine has started it; "
                         "without the role operator or auditor, only to those who take part "
                         "in it)")


def _view(row: InstanceRow) -> InstanceView:
    return InstanceView.model_validate({
        "instanceId": row.instance_id, "processId": row.process_id, "version": row.version,
        "businessKey": row.business_key, "status": row.status,
        "activeElements": row.active_elements, "variables": row.variables,
        "incidents": row.incidents, "updatedAt": row.updated_at,
    })
