from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.periods import parse_month
from billing.services import invoice_run


class Command(BaseCommand):
    help = (
        "Generates and finalises the invoices of every subscription period that ended on the first day "
        "after the month given, and rolls those subscriptions to their next period. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The billing month, YYYY-MM (e.g. 2026-10).")
        parser.add_argument("--customer", metavar="EMAIL", help="Only this customer's subscription.")
        parser.add_argument("--dry-run", action="store_true", help="Compute and report, write nothing.")

    def handle(self, *args, period, customer, dry_run, **options):
        try:
            month = parse_month(period)
        except BillingError as error:
            raise CommandError(str(error)) from error
        user = None
        if customer:
            user = get_user_model().objects.filter(email__iexact=customer).first()
            if user is None:
                raise CommandError(f"No customer with the email {customer}.")
        summary = invoice_run(period_end=month.end, customer=user, dry_run=dry_run)
        heading = f"Invoice run for {month.label} (periods ending {month.end})"
        self.stdout.write(heading + (" — dry run, nothing written" if dry_run else ""))
        self.stdout.write(f"  invoices created:            {summary.created}")
        self.stdout.write(f"  skipped, already invoiced:   {summary.existing}")
        self.stdout.write(f"  nothing owed:                {summary.nothing_owed}")
        self.stdout.write(f"  total billed:                {summary.total_billed} {settings.INVOICE_CURRENCY}")
