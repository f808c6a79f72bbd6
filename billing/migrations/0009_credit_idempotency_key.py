from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0008_decimal_checks_rounded"),
    ]

    operations = [
        migrations.AddField(
            model_name="credit",
            name="idempotency_key",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.AddConstraint(
            model_name="credit",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key", ""), _negated=True),
                fields=("idempotency_key",),
                name="credit_idempotency_key_unique",
            ),
        ),
    ]
