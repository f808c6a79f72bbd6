"""Finance pages of the admin that belong to no single model: the dashboard and the accounting exports.

`twinmcp.admin_site.TwinMCPAdminSite` routes `/admin/billing/dashboard/` and `/admin/billing/exports/` here,
behind the admin's login; both need the `billing.view_invoice` permission (Finance and superusers).
"""
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.formats import date_format
from django.views import View

from accounts.services import audit_log_record
from billing import clock
from billing.backoffice.charts import Series, grouped_bar_chart
from billing.backoffice.dashboard import dashboard_figures_cached, vat_by_country
from billing.backoffice.exports import (
    ExportPeriod,
    credit_note_csv_rows,
    fec_content,
    fec_filename,
    invoice_csv_rows,
    payment_csv_rows,
)
from billing.backoffice.forms import ExportForm, VatPeriodForm
from core.spreadsheets import csv_attachment

FINANCE_PERMISSION = "billing.view_invoice"
INVOICED_COLOUR, COLLECTED_COLOUR, DUE_COLOUR = "#417690", "#5b9b4a", "#b45309"


class FinancePage(View):
    admin_site = None  # set by the site's URL
    title = ""
    template_name = ""
    http_method_names = ["get", "head", "options"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(FINANCE_PERMISSION):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def render(self, request, **context) -> TemplateResponse:
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            self.template_name,
            {**self.admin_site.each_context(request), "title": self.title, "subtitle": None, **context},
        )


class DashboardView(FinancePage):
    title = "Finance dashboard"
    template_name = "admin/billing/dashboard.html"

    def get(self, request):
        figures = dashboard_figures_cached(
            now=clock.now(), currency=settings.INVOICE_CURRENCY, refresh=bool(request.GET.get("refresh"))
        )
        chart = grouped_bar_chart(
            labels=[date_format(month.month, "M y") for month in figures.revenue],
            series=[
                Series("Invoiced", [month.invoiced for month in figures.revenue], INVOICED_COLOUR),
                Series("Collected", [month.collected for month in figures.revenue], COLLECTED_COLOUR),
            ],
            title="Invoiced and collected per month",
            unit=figures.currency,
        )
        aging_chart = grouped_bar_chart(
            labels=[bucket.label for bucket in figures.aging],
            series=[Series("Amount due", [bucket.amount for bucket in figures.aging], DUE_COLOUR)],
            title="Amount due by days past due",
            unit=figures.currency,
            width=480,
        )
        vat_form = VatPeriodForm(request.GET if "first_day" in request.GET else None)
        vat_period = vat_form.period()
        vat = None if vat_period is None else vat_by_country(
            first_day=vat_period[0], last_day=vat_period[1], today=figures.today, currency=figures.currency
        )
        return self.render(
            request, figures=figures, chart=chart, aging_chart=aging_chart, vat_form=vat_form, vat_period=vat_period,
            vat=vat,
        )


CSV_EXPORTS = {
    "invoices": ("invoices", invoice_csv_rows),
    "credit_notes": ("credit-notes", credit_note_csv_rows),
    "payments": ("payments", payment_csv_rows),
}


class ExportsView(FinancePage):
    title = "Accounting exports"
    template_name = "admin/billing/exports.html"

    def get(self, request):
        form = ExportForm(request.GET if "kind" in request.GET else None)
        if not form.is_bound or not form.is_valid():
            return self.render(request, form=form)
        kind = form.cleaned_data["kind"]
        period = ExportPeriod(form.cleaned_data["first_day"], form.cleaned_data["last_day"])
        # Exports carry every customer's billing identity: who took which one is on the record.
        audit_log_record(
            action="billing.export", obj=request.user,
            changes={"kind": kind, "first_day": period.first_day.isoformat(), "last_day": period.last_day.isoformat()},
        )
        if kind == "fec":
            return self.download(
                fec_content(period).encode("utf-8"), content_type="text/plain; charset=utf-8",
                filename=fec_filename(siren=settings.SELLER["siren"], closing_date=period.last_day),
            )
        name, rows = CSV_EXPORTS[kind]
        return csv_attachment(rows(period), filename=csv_filename(name, period))

    @staticmethod
    def download(content, *, content_type: str, filename: str) -> HttpResponse:
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def csv_filename(name: str, period: ExportPeriod) -> str:
    return f"{name}-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.csv"
