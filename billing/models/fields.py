"""Field options and constraints the billing models share: money to the cent, unit prices to 1/10,000."""
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 12, "decimal_places": 2}
# Unit prices (a price per million tokens, say) keep four places; amounts are rounded to the cent.
UNIT_PRICE = {"max_digits": 12, "decimal_places": 4}


def non_negative(*fields: str, prefix: str) -> list[models.CheckConstraint]:
    """One database check per field: the value is never below zero."""
    return [
        models.CheckConstraint(condition=Q(**{f"{field}__gte": 0}), name=f"{prefix}_{field}_non_negative")
        for field in fields
    ]
