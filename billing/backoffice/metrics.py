"""Business figures for Prometheus, read from the database at scrape time (briefly cached).

The invoice-run duration is observed where the run happens (`billing.invoicing.tasks`)."""
from django.core.cache import cache
from django.db.models import Count, Sum
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billing.models import EmailNotification, Invoice, Payment

SCRAPE_CACHE_SECONDS = 30



def _figures() -> dict:
    return {
        "invoices": list(
            Invoice.objects.values("status", "currency").annotate(count=Count("id"), amount=Sum("total")).order_by()
        ),
        "payments": list(
            Payment.objects.values("status", "currency").annotate(count=Count("id"), amount=Sum("amount")).order_by()
        ),
        "emails": list(EmailNotification.objects.values("status").annotate(count=Count("id")).order_by()),
    }


class BillingCollector(Collector):
    def describe(self):
        # Named without a query, so that registering the collector at start-up touches no database.
        return [
            GaugeMetricFamily("twinmcp_invoices", "Invoices by status.", labels=["status", "currency"]),
            GaugeMetricFamily("twinmcp_invoiced_amount", "Invoice totals by status.", labels=["status", "currency"]),
            GaugeMetricFamily("twinmcp_payments", "Payments by status.", labels=["status", "currency"]),
            GaugeMetricFamily("twinmcp_payments_amount", "Payment amounts by status.", labels=["status", "currency"]),
            GaugeMetricFamily("twinmcp_emails", "Customer emails by delivery status.", labels=["status"]),
        ]

    def collect(self):
        figures = cache.get("metrics:billing")
        if figures is None:
            figures = _figures()
            cache.set("metrics:billing", figures, SCRAPE_CACHE_SECONDS)
        invoices, invoiced, payments, paid, emails = self.describe()
        for row in figures["invoices"]:
            labels = [row["status"], row["currency"]]
            invoices.add_metric(labels, row["count"])
            invoiced.add_metric(labels, float(row["amount"] or 0))  # Prometheus samples are floats
        for row in figures["payments"]:
            labels = [row["status"], row["currency"]]
            payments.add_metric(labels, row["count"])
            paid.add_metric(labels, float(row["amount"] or 0))
        for row in figures["emails"]:
            emails.add_metric([row["status"]], row["count"])
        yield from (invoices, invoiced, payments, paid, emails)
