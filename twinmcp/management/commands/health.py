from django.core.management.base import BaseCommand, CommandError

from twinmcp.health import check_services, services_down


class Command(BaseCommand):
    help = "Checks PostgreSQL (or SQLite), the cache and the Celery broker; exits non-zero when one is down."

    def handle(self, *args, **options):
        results = check_services()
        for name, result in results.items():
            line = f"{name}: {result['status']}"
            if "error" in result:
                line += f" ({result['error']})"
            self.stdout.write(line)
        down = services_down(results)
        if down:
            raise CommandError(f"down: {', '.join(down)}")
        self.stdout.write(self.style.SUCCESS("all services up"))
