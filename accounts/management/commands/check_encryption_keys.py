from django.core.management.base import BaseCommand, CommandError

from accounts.services import encryption_keys_check


class Command(BaseCommand):
    help = "Exits non-zero when any encrypted value is still under a key other than the newest."

    def handle(self, *args, **options):
        stale = encryption_keys_check()
        for column, count in stale.items():
            self.stdout.write(f"{column}: {count} on an older key")
        total = sum(stale.values())
        if total:
            raise CommandError(f"{total} value(s) still use a retired key: run rotate_encryption_keys")
        self.stdout.write(self.style.SUCCESS("every encrypted value uses the newest key"))
