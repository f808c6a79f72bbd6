"""What the accounts app does when its rows change, connected in `AccountsConfig.ready`: the cached lookups of
API keys (`api_key_authenticate`) are forgotten whenever a key or its user is saved or deleted, through a service,
a form, the admin or a cascade; a user's change of name or email is a new version of their profile."""
from django.db.models import F

from .models import ApiKey, UserProfile
from .services import api_key_cache_forget

# The user's fields an invoice's buyer reads (their email and name stand in for what the profile leaves empty).
BUYER_USER_FIELDS = {"email", "first_name", "last_name"}


def api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    api_key_cache_forget([instance.prefix])


def user_changed(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    # A new user has no key yet; a login only stamps last_login, which no API call reads.
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    api_key_cache_forget(ApiKey.objects.filter(user_id=instance.pk).values_list("prefix", flat=True))
    if update_fields is None or BUYER_USER_FIELDS & set(update_fields):
        # A new profile version: the next invoice snapshots the buyer as they are now.
        UserProfile.objects.filter(user_id=instance.pk).update(version=F("version") + 1)
