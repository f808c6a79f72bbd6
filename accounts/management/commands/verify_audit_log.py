from django.core.management.base import BaseCommand, CommandError

from accounts.services import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Walks the audit log's chain, checking each row's HMAC with the key of AUDIT_LOG_KEYS that signed it; "
        "exits non-zero naming the first row that was altered, removed, re-hashed without the key or signed by an "
        "unknown key."
    )

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if report.problems:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"the audit log was tampered with: {len(report.problems)} problem(s) in {report.rows} rows"
            )
        self.stdout.write(
            self.style.SUCCESS(f"audit log intact: {report.rows} rows, chain head {report.head_hash[:12]}…")
        )
