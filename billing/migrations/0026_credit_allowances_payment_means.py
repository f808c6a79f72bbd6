from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0025_partial_credit_notes")]

    operations = []
