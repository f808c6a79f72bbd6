from django.core.management.base import BaseCommand

from accounts.services import ROTATION_BATCH_SIZE, encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypts every encrypted value with the newest key of FIELD_ENCRYPTION_KEY, in batches. "
        "Safe to stop and run again. Remove a retired key only after `check_encryption_keys` passes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=ROTATION_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        report = encryption_keys_rotate(batch_size=batch_size, log=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(f"{report.rotated} value(s) re-encrypted, {report.already_current} already current")
        )
