from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = (
        "Erases the configured database for `make reset-db`: on PostgreSQL its public schema is dropped and made "
        "again (the audit log refuses TRUNCATE, so `flush` cannot empty it); on SQLite every row is deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="Do not ask for confirmation.")

    def handle(self, *args, interactive: bool, **options):
        name = connection.settings_dict["NAME"]
        if interactive and input(f"Erase every table of {name}? [y/N] ").strip().lower() != "y":
            raise CommandError("Nothing erased.")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        else:
            call_command("flush", interactive=False, verbosity=0)
        self.stdout.write(f"{name} erased; run `manage.py migrate` to make its tables again.")
