"""Who is acting: set per request by middleware, "system" (no actor) for tasks and commands."""
import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    actor_id: int | None = None
    ip_address: str | None = None
    user_agent: str = ""


SYSTEM = AuditContext()
_current = contextvars.ContextVar("audit_context", default=SYSTEM)


def current_audit_context() -> AuditContext:
    return _current.get()


def set_audit_context(context: AuditContext) -> contextvars.Token:
    return _current.set(context)


def reset_audit_context(token: contextvars.Token) -> None:
    _current.reset(token)
