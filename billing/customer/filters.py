"""Filters of the billing API lists (django-filter): a value that does not parse answers 400, naming it."""
import functools

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    CreditType,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
)
from billing.selectors import CUSTOMER_INVOICE_STATUSES


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    """A whole number (the default NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=[(s.value, s.label) for s in CUSTOMER_INVOICE_STATUSES])
    period_start = django_filters.DateFromToRangeFilter(
        help_text="`period_start_after` / `period_start_before`: periods starting within these dates (included)."
    )
    year = IntegerFilter(field_name="period_start", lookup_expr="year", min_value=1900, max_value=9999,
                        help_text="Periods starting in this year.")
    number = django_filters.CharFilter(lookup_expr="icontains", max_length=20, help_text="Part of the number.")
    ordering = django_filters.OrderingFilter(
        fields=["period_start", "issue_date", "due_date", "total", "amount_due", "number"],
        help_text="Default: newest period first.",
    )

    class Meta:
        model = Invoice
        fields = ["status", "period_start", "year", "number"]


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    method = django_filters.ChoiceFilter(choices=PaymentMethod.choices)
    invoice = IntegerFilter(field_name="invoice_id", help_text="Id of one of the customer's invoices.")

    class Meta:
        model = Payment
        fields = ["status", "method", "invoice"]


class CreditFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=CreditType.choices)

    class Meta:
        model = Credit
        fields = ["type"]


class AlertFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=AlertType.choices)
    unread = django_filters.BooleanFilter(field_name="read_at", lookup_expr="isnull", help_text="Only unread alerts.")

    class Meta:
        model = BillingAlert
        fields = ["type", "unread"]


class PlanFilter(django_filters.FilterSet):
    class Meta:
        model = Plan
        fields = ["interval", "currency"]


@functools.cache
def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> frozenset[str]:
    """The query parameters a filterset reads: its fields' names, a range's as `<name>_after`, `<name>_before`…"""
    names = set()
    for name, form_field in filterset_class().form.fields.items():
        suffixes = getattr(form_field.widget, "suffixes", None) or [""]
        names.update(f"{name}_{suffix}" if suffix else name for suffix in suffixes)
    return frozenset(names)
