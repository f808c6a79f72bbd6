from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from twinmcp.demo import LOGINS, seed_demo


class Command(BaseCommand):
    help = (
        "Loads demo data: plans, customers with subscriptions and API keys, a documentation catalogue and three "
        "months of usage. Safe to run again: a second run adds nothing."
    )

    def handle(self, *args, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "Demo data creates users with known passwords: it is refused here (set DEMO_DATA_ALLOWED=true "
                "only on a machine nobody else reaches)."
            )
        summary = seed_demo(now=timezone.now())
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for label, total in summary.totals.items():
            self.stdout.write(f"  {label}: {total} ({summary.created[label]} new)")
        if summary.demo_api_token:
            self.stdout.write(
                self.style.WARNING(f"Demo customer API key (shown once, keep it now): {summary.demo_api_token}")
            )
        else:
            self.stdout.write(
                f"Demo customer API key: tmcp_{summary.demo_api_key_prefix}_… "
                "(its secret was shown when it was created; create a new key on /account/ if it is lost)"
            )
        for role, email, password in LOGINS:
            self.stdout.write(f"{role}: {email} / {password}")
