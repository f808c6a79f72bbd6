"""The catalogue's part of a customer's erasure, named in settings.PERSONAL_DATA_ERASERS."""
from .models import UsageLog


def usage_detach(*, user, now) -> None:
    """Usage stays for the books and the statistics, no longer tied to the person or their keys."""
    UsageLog.objects.filter(user=user).update(user=None, api_key=None)
