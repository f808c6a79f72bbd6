from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0024_line_kind_credit")]

    operations = []
