"""Admin building blocks shared by every app (accounts sits at the bottom of the layers, so all may import it)."""
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .admin_audit import admin_form_changes, form_changes_logged
from .models import AuditLog

# How many audit rows a change page shows; the audit log page has them all.
AUDIT_TRAIL_LIMIT = 50


class ReadOnlyAdminMixin:
    """For ledgers and trails, on a ModelAdmin or an inline: services write the rows, the admin only shows them."""

    extra = 0  # an inline shows no blank form (a one-to-one inline would show one even without add permission)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FormChangesAuditMixin:
    """For a ModelAdmin whose pages edit rows: the audit row of each add or change holds the old and new value
    of every field the form (and its inlines) changed, secrets excepted."""

    def construct_change_message(self, request, form, formsets, add=False):
        # Called once the form is saved, just before the log entry is written (see log_addition, log_change).
        request.admin_form_changes = admin_form_changes(form, formsets, added=add)
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request, obj, message):
        with form_changes_logged(vars(request).pop("admin_form_changes", None)):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        with form_changes_logged(vars(request).pop("admin_form_changes", None)):
            return super().log_change(request, obj, message)


def error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def run_for_each(
    model_admin: admin.ModelAdmin,
    request,
    objects: Iterable,
    call: Callable,
    *,
    done: str,
    refused: tuple[type[Exception], ...] = (ValidationError,),
) -> list:
    """Call `call(obj)` (one service) for each object. A refused call becomes an error message naming the object,
    never a 500, and does not stop the others; the objects done are reported in one success message."""
    succeeded = []
    for obj in objects:
        try:
            call(obj)
        except refused as error:
            model_admin.message_user(request, f"{obj}: {error_text(error)}", messages.ERROR)
        else:
            succeeded.append(obj)
    if succeeded:
        names = ", ".join(str(obj) for obj in succeeded[:10]) + (" …" if len(succeeded) > 10 else "")
        model_admin.message_user(request, f"{done} ({len(succeeded)}): {names}.", messages.SUCCESS)
    return succeeded


def back_to_object(model_admin: admin.ModelAdmin, request, objects: list) -> HttpResponseRedirect | None:
    """After an action started from an object's page (its buttons post `_return_to=change`), go back there;
    None lets the admin return to the list."""
    if request.POST.get("_return_to") == "change" and len(objects) == 1:
        opts = model_admin.model._meta
        return HttpResponseRedirect(
            reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[objects[0].pk],
                current_app=model_admin.admin_site.name,
            )
        )
    return None


def action_page(
    model_admin: admin.ModelAdmin,
    request,
    objects: list,
    *,
    action: str,
    title: str,
    form=None,
    submit_label: str = "Confirm",
    template: str = "admin/action_form.html",
    **extra,
) -> TemplateResponse:
    """The intermediate page of an action that needs a form or a confirmation (Django's delete_selected pattern):
    it posts back to the list with the action, the selected objects and `apply`."""
    opts = model_admin.model._meta
    request.current_app = model_admin.admin_site.name
    media = model_admin.media + form.media if form is not None else model_admin.media
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "objects": objects,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "return_to": request.POST.get("_return_to", ""),
        "media": media,
        **extra,
    }
    return TemplateResponse(request, template, context)


@dataclass(frozen=True)
class ObjectAction:
    """A button on an object's page that runs one of its model admin's actions on that object."""

    action: str
    label: str


class ObjectActionsMixin:
    """Buttons for the actions that apply to the object shown, and its audit trail under the form.

    Subclasses list candidate actions in `object_actions` and may narrow them by the object's state in
    `object_action_applies`; `audit_trail_objects` names the objects whose audit rows the page shows.
    """

    change_form_template = "admin/change_form_actions.html"
    object_actions: tuple[ObjectAction, ...] = ()

    def object_action_applies(self, action: str, obj) -> bool:
        return True

    def object_action_buttons(self, request, obj) -> list[ObjectAction]:
        available = self.get_actions(request)
        return [
            button
            for button in self.object_actions
            if button.action in available and self.object_action_applies(button.action, obj)
        ]

    def object_tool_links(self, request, obj) -> list[tuple[str, str]]:
        """(url, label) of plain links beside the buttons, e.g. a document to download."""
        return []

    def audit_trail_objects(self, obj) -> list:
        return [obj]

    def audit_trail(self, obj) -> list[AuditLog]:
        wanted = Q(pk__in=[])
        for item in self.audit_trail_objects(obj):
            wanted |= Q(object_type=item._meta.label, object_id=str(item.pk))
        rows = AuditLog.objects.filter(wanted).select_related("actor").order_by("-created_at", "-id")
        return list(rows[:AUDIT_TRAIL_LIMIT])

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            opts = self.model._meta
            context.update(
                object_action_buttons=self.object_action_buttons(request, obj),
                object_tool_links=self.object_tool_links(request, obj),
                object_action_url=reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name
                ),
                audit_trail=self.audit_trail(obj),
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
