"""Forms of the customer billing pages: invoice filters, plan change and cancellation."""
from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import InvoiceStatus
from billing.selectors import CUSTOMER_INVOICE_STATUSES


class PageForm(forms.Form):
    """Labels without a trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class InvoiceFilterForm(PageForm):
    """Filters of the invoice list, from the query string."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses"))]
        + [(status, InvoiceStatus(status).label) for status in CUSTOMER_INVOICE_STATUSES],
    )
    year = forms.IntegerField(label=_("Year"), required=False, min_value=2000, max_value=2999, widget=forms.Select)

    def __init__(self, *args, years: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].widget.choices = [("", _("All years"))] + [(year, str(year)) for year in years]

    def filter(self, invoices):
        """The invoices matching the valid filters; an invalid one (a hand-edited URL) filters nothing."""
        if not self.is_bound:
            return invoices
        self.is_valid()
        status, year = self.cleaned_data.get("status"), self.cleaned_data.get("year")
        if status:
            invoices = invoices.filter(status=status)
        if year:
            invoices = invoices.filter(issue_date__year=year)
        return invoices


class PlanChoiceForm(PageForm):
    plan = forms.ModelChoiceField(
        queryset=None, to_field_name="code", empty_label=None, widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose one of the plans offered.")},
    )

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans


class CouponForm(PageForm):
    code = forms.CharField(
        label=_("Coupon code"), max_length=40,
        error_messages={"required": _("Enter a coupon code.")},
    )


class CancelForm(PageForm):
    AT_PERIOD_END = "period_end"
    NOW = "now"

    when = forms.ChoiceField(
        widget=forms.RadioSelect,
        choices=[
            (AT_PERIOD_END, _("At the end of the current period")),
            (NOW, _("Now")),
        ],
        initial=AT_PERIOD_END,
    )

    @property
    def at_period_end(self) -> bool:
        return self.cleaned_data["when"] == self.AT_PERIOD_END
