"""Daily retention purges: usage logs past USAGE_RETENTION_DAYS and expired sessions (editable in admin)."""
from django.db import migrations

from core.schedules import schedules_operation

SCHEDULES = {
    "Usage log retention": ("libraries.tasks.usage_logs_purge_task", "30", "3", "*"),
    "Expired sessions": ("accounts.tasks.sessions_purge_task", "45", "3", "*"),
}



class Migration(migrations.Migration):
    dependencies = [
        ("libraries", "0002_documentation_search_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [schedules_operation(SCHEDULES)]
