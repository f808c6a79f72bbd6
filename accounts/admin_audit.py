"""Every change made through the admin also lands in the audit log, with the request's IP and user agent, and
the old and new value of each field its form changed (`FormChangesAuditMixin` hands them over)."""
import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django import forms
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .audit import current_audit_context
from .fields import EncryptedTextField
from .models import AuditLog
from .services import audit_log_record_many

ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}
# Secrets by name: a password hash, a key's hash, and the password fields of the password forms.
SECRET_FIELDS = frozenset({"password", "password1", "password2", "key_hash"})

_form_changes: contextvars.ContextVar[dict | None] = contextvars.ContextVar("admin_form_changes", default=None)


class _AuditEncoder(DjangoJSONEncoder):
    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _plain(value):
    """A form value as the JSON the audit row keeps: a row by its primary key, several rows as sorted keys."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet) or (
        isinstance(value, list | tuple) and value and all(isinstance(item, models.Model) for item in value)
    ):
        return sorted(item.pk for item in value)
    return json.loads(json.dumps(value, cls=_AuditEncoder))


def _is_secret(form: forms.BaseForm, name: str) -> bool:
    """A value the audit log must never hold: a password, a hash, or a field encrypted at rest."""
    field = form.fields.get(name)
    if name in SECRET_FIELDS or (field is not None and isinstance(field.widget, forms.PasswordInput)):
        return True
    model = getattr(getattr(form, "_meta", None), "model", None)
    try:
        model_field = model._meta.get_field(name) if model is not None else None
    except FieldDoesNotExist:
        return False
    return isinstance(model_field, EncryptedTextField)


def form_field_changes(form: forms.BaseForm, *, added: bool = False) -> dict:
    """`{field: {"old": …, "new": …}}` for each field the submitted `form` changed (old None on an add form);
    a secret gets `{"changed": True}` instead of its values."""
    changes = {}
    for name in form.changed_data:
        if _is_secret(form, name):
            changes[name] = {"changed": True}
        else:
            old = None if added else form.initial.get(name)
            changes[name] = {"old": _plain(old), "new": _plain(form.cleaned_data.get(name))}
    return changes


def _inline_changes(formsets) -> Iterator[dict]:
    for formset in formsets or ():
        deleted = formset.deleted_forms
        for inline_form in formset.forms:
            if inline_form in deleted or not inline_form.has_changed():
                continue
            instance = inline_form.instance
            yield {
                "object_type": instance._meta.label,
                "object_id": str(instance.pk),
                "fields": form_field_changes(inline_form, added=inline_form not in formset.initial_forms),
            }


def admin_form_changes(form: forms.BaseForm, formsets, *, added: bool) -> dict:
    """What an admin page's form and inlines changed: `fields` of the object, and `inlines`, one per inline row
    added or changed (the change message already names the rows deleted)."""
    changes = {"fields": form_field_changes(form, added=added)}
    inlines = list(_inline_changes(formsets))
    if inlines:
        changes["inlines"] = inlines
    return changes


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else json.dumps(value, cls=_AuditEncoder, ensure_ascii=False)


def _change_line(name: str, value) -> str:
    """`name: old → new` for a change in either form the trail holds (`{"old", "new"}` or `[old, new]`)."""
    if isinstance(value, dict) and value.keys() == {"old", "new"}:
        return f"{name}: {_shown(value['old'])} → {_shown(value['new'])}"
    if isinstance(value, list) and len(value) == 2:
        return f"{name}: {_shown(value[0])} → {_shown(value[1])}"
    if value == {"changed": True}:  # a secret: that it changed, never its values
        return f"{name}: changed"
    return f"{name}: {_shown(value)}"


def audit_change_lines(changes) -> list[str]:
    """An audit row's `changes` as lines a person reads: `email: a → b` per field (inline rows prefixed by the
    row they changed), other entries as `key: value`."""
    if not isinstance(changes, dict):
        return [] if changes in (None, "") else [_shown(changes)]
    lines = []
    for key, value in changes.items():
        if key == "fields" and isinstance(value, dict):
            lines.extend(_change_line(name, change) for name, change in value.items())
        elif key == "inlines" and isinstance(value, list):
            for row in value:
                prefix = f"{row.get('object_type', '')} #{row.get('object_id', '')}"
                lines.extend(f"{prefix} {_change_line(name, change)}" for name, change in row.get("fields", {}).items())
        elif key == "message" and value in ("", None, []):
            continue  # Django's change message is empty when a form saved nothing
        else:
            lines.append(_change_line(key, value))
    return lines


@contextmanager
def form_changes_logged(changes: dict | None):
    """Within it, the admin log entry written goes to the audit log with `changes`."""
    token = _form_changes.set(changes)
    try:
        yield
    finally:
        _form_changes.reset(token)


def audit_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    context = current_audit_context()
    audit_log_record_many([
        AuditLog(
            actor_id=instance.user_id,
            action=ACTIONS.get(instance.action_flag, "admin.other"),
            object_type=model._meta.label if model else "unknown",
            object_id=str(instance.object_id or ""),
            changes={"message": instance.get_change_message(), **(_form_changes.get() or {})},
            ip_address=context.ip_address,
            user_agent=context.user_agent,
        )
    ])
