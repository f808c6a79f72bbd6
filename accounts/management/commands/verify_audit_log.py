from django.core.management.base import BaseCommand, CommandError

from accounts.services import audit_chain_verify


class Command(BaseCommand):
    help = "Walks the audit log's hash chain; exits non-zero naming the first row that was altered or removed."

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
