"""Why a command was refused and why an element stopped: closed sets, so that every place that
reads them (the worklist's HTTP status, the console, the audit) names the same values."""

from __future__ import annotations

from enum import StrEnum


class RejectionType(StrEnum):
    """Why the engine refused a command (a rejection's `rejectionType`)."""

    INVALID_STATE = "INVALID_STATE"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    RETIRED = "RETIRED"
    FORBIDDEN = "FORBIDDEN"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"
    NOT_CLAIMED = "NOT_CLAIMED"
    ALREADY_ESCALATED = "ALREADY_ESCALATED"
    NOT_DUE = "NOT_DUE"
    # the command, or what processing it would write, is larger than a record may be (or its
    # variables larger than a command may carry): docs/limits.md
    EXCEEDED_SIZE = "EXCEEDED_SIZE"
    # not the engine's: the worklist refuses a completion whose form schema is missing
    UNKNOWN_FORM = "UNKNOWN_FORM"


class IncidentType(StrEnum):
    """Why an element stopped and waits for an operator (an incident's `errorType`)."""

    CONDITION_ERROR = "CONDITION_ERROR"
    EXTRACT_VALUE_ERROR = "EXTRACT_VALUE_ERROR"
    IO_MAPPING_ERROR = "IO_MAPPING_ERROR"
    CALLED_ELEMENT_ERROR = "CALLED_ELEMENT_ERROR"
    JOB_NO_RETRIES = "JOB_NO_RETRIES"
    TIMER_ERROR = "TIMER_ERROR"
    UNHANDLED_ERROR_EVENT = "UNHANDLED_ERROR_EVENT"
    # a command went beyond its work budget (laneway/engine/limits.py); its results were
    # discarded, so there is nothing to retry: the instance can only be cancelled
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    # a message flow to another agency's pool whose partner this engine has no topic for
    # (LANEWAY_AGENCY_PARTNERS, docs/agencies.md): the element waits; configured, resolving
    # the incident sends it
    AGENCY_NOT_CONFIGURED = "AGENCY_NOT_CONFIGURED"
    # a JavaScript script task threw, or went beyond its time, memory or stack limit
    # (laneway/engine/scripting.py); resolving the incident runs the script again
    SCRIPT_ERROR = "SCRIPT_ERROR"
