"""The one place domain code asks for the time; services take `now` from their caller and fall back here."""
import datetime

from django.utils import timezone

from billing.periods import local_date


def now() -> datetime.datetime:
    return timezone.now()


def today() -> datetime.date:
    return local_date(now())
