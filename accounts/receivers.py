"""What the accounts app does when its rows change, connected in `AccountsConfig.ready`: the cached lookups of
API keys (`api_key_authenticate`) are forgotten whenever a key or its user is saved or deleted, through a service,
a form, the admin or a cascade."""
from .models import ApiKey
from .services import api_key_cache_forget


def api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    api_key_cache_forget([instance.prefix])


def user_changed(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    # A new user has no key yet; a login only stamps last_login, which no API call reads.
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    api_key_cache_forget(ApiKey.objects.filter(user_id=instance.pk).values_list("prefix", flat=True))
