from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_einvoice_format")]

    operations = []
