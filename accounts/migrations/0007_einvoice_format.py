from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_audit_keyed_chain")]

    operations = [
        migrations.AddField(
            model_name="userprofile",
            name="einvoice_format",
            field=models.CharField(
                choices=[("facturx", "Factur-X (XML inside the PDF)"), ("ubl", "UBL 2.1 (XML file beside the PDF)")],
                default="facturx",
                db_default="facturx",
                help_text="Listed first on invoice pages; UBL is also attached to the invoice and credit-note emails.",
                max_length=7,
            ),
        ),
    ]
