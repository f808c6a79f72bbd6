"""Helpers every billing admin page uses: one service call per object, money columns, status badges."""
from operator import attrgetter

from django.contrib import admin, messages
from django.utils.html import format_html

from accounts.admin_mixins import run_for_each as run_each
from billing.exceptions import BillingError
from billing.models import InvoiceStatus
from billing.templatetags.billing_format import money

OUTSTANDING_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
CANCELLABLE_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.SENT, InvoiceStatus.OVERDUE)


def run_for_each(model_admin, request, objects, call, *, done: str) -> list:
    """One service call per object; a BillingError becomes an admin message naming the object."""
    return run_each(model_admin, request, objects, call, done=done, refused=(BillingError,))


def money_column(field: str, *, description: str, currency: str = "currency"):
    """An amount with its currency, as the `money` filter writes it ("1,022.80 EUR"), for a list column or a
    read-only field of a page; `currency` is a dotted attribute path."""
    currency_of = attrgetter(currency)

    @admin.display(description=description, ordering=field)
    def column(model_admin, obj):
        return money(getattr(obj, field), currency_of(obj))

    return column


def badge(value: str, label: str) -> str:
    """A coloured status label; the colours are in templates/admin/base_site.html."""
    return format_html('<span class="tmcp-badge tmcp-badge-{}">{}</span>', value.lower(), label)


def single(model_admin, request, objects: list, *, what: str):
    """The one selected object of an action that works on one at a time, or None with a message."""
    if len(objects) == 1:
        return objects[0]
    model_admin.message_user(
        request, f"Select exactly one {what}: this action takes them one at a time.", messages.WARNING
    )
    return None
