from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from demo.people import LOGINS
from demo.seed import seed_demo


class Command(BaseCommand):
    help = (
        "Loads demo data: plans, customers with subscriptions and API keys, a documentation catalogue and a year "
        "of history (usage, monthly invoices, payments, overdue invoices, credits, alerts, accepted terms, a "
        "scheduled downgrade), then prints the logins, the demo customer's API key and where to go. Safe to run "
        "again: a second run adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the server answers, for the printed links."
        )

    def handle(self, *args, base_url: str, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "Demo data creates users with known passwords: it is refused here (set DEMO_DATA_ALLOWED=true "
                "only on a machine nobody else reaches)."
            )
        summary = seed_demo(now=timezone.now())
        base_url = base_url.rstrip("/")
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in:"))
        for role, email, password, url_name in LOGINS:
            self.stdout.write(f"  {role}: {email} / {password}  {base_url}{reverse(url_name)}")
        api_docs = f"{base_url}{reverse('api-docs')}"
        if summary.demo_api_token:
            self.stdout.write(
                self.style.WARNING(f"Demo customer API key (shown once, keep it now): {summary.demo_api_token}")
            )
        else:
            self.stdout.write(
                f"Demo customer API key: tmcp_{summary.demo_api_key_prefix}_… "
                "(its secret was shown when it was created; create a new key on /account/ if it is lost)"
            )
        self.stdout.write(f"  Try it on {api_docs} (Authorize: Bearer <key>)")
        if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
            self.stdout.write(f"Emails the application sends are written to {settings.EMAIL_FILE_PATH}")
