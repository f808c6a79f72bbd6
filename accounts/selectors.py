"""Reads of the accounts app: the key behind an API call, and for the customer pages keys, consents and the
personal-data export."""
from django.conf import settings
from django.db import router
from django.utils import timezone

from .models import ApiKey, ConsentPurpose, ConsentRecord, UserProfile


def api_key_with_user(*, prefix: str) -> ApiKey | None:
    """The key of `prefix` with its user, usable or not; None when there is none. The user's password hash is
    deferred: it is no business of an API call, and `api_key_authenticate` caches what this returns."""
    # From the primary even inside `replica_reads()`: a key revoked a moment ago must not pass on a lagging replica.
    return (
        ApiKey.objects.using(router.db_for_write(ApiKey)).select_related("user").defer("user__password")
        .filter(prefix=prefix).first()
    )


def api_keys_of(*, user):
    """Every key of `user`, newest first, usable or not: the list shows only each key's prefix."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def saved_profile(user) -> UserProfile | None:
    """The customer's profile, None when they never saved one."""
    try:
        return user.profile
    except UserProfile.DoesNotExist:
        return None


def customer_language(profile: UserProfile | None) -> str:
    """The language a customer reads their billing in (documents, emails, alerts): their profile's, the site's own
    without one."""
    return customer_language_code(profile.language if profile else None)


def customer_language_code(language: str | None) -> str:
    """A profile's language as billing speaks it: the site's own when none is given or it is not offered."""
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def profile_of(*, user) -> UserProfile:
    """The saved profile, or an unsaved empty one for a customer who never filled it in."""
    return UserProfile.objects.filter(user=user).first() or UserProfile(user=user)


def consents_current(*, user) -> dict[str, ConsentRecord | None]:
    """The decision in force per purpose (the newest record), None where the customer never decided."""
    current: dict[str, ConsentRecord | None] = dict.fromkeys(ConsentPurpose.values)
    for record in ConsentRecord.objects.filter(user=user).order_by("-created_at", "-id"):
        if current.get(record.purpose) is None:
            current[record.purpose] = record
    return current


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def account_export(*, user, now=None) -> dict:
    """The personal data the accounts app holds about `user`, as plain JSON values (GDPR access request).

    Key hashes and OAuth tokens are credentials, not data about the person: they are left out.
    """
    profile = UserProfile.objects.filter(user=user).first()
    profile_data = None
    if profile is not None:
        profile_data = {
            "full_name": profile.full_name,
            "company_name": profile.company_name,
            "billing_email": profile.billing_email,
            "phone": profile.phone,
            "address_line1": profile.address_line1,
            "address_line2": profile.address_line2,
            "postal_code": profile.postal_code,
            "city": profile.city,
            "country": profile.country,
            "vat_number": profile.vat_number,
            "vies_status": profile.vies_status,
            "vies_checked_at": _iso(profile.vies_checked_at),
            "vies_consultation_reference": profile.vies_consultation_reference,
            "siren": profile.siren,
            "language": profile.language,
            "einvoice_format": profile.einvoice_format,
            "monthly_spend_cap": str(profile.monthly_spend_cap) if profile.monthly_spend_cap is not None else None,
            "created_at": _iso(profile.created_at),
            "updated_at": _iso(profile.updated_at),
        }
    return {
        "exported_at": _iso(now or timezone.now()),
        "user": {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
        },
        "profile": profile_data,
        "api_keys": [
            {
                "name": key.name,
                "prefix": key.prefix,
                "scopes": key.scopes,
                "created_at": _iso(key.created_at),
                "last_used_at": _iso(key.last_used_at),
                "expires_at": _iso(key.expires_at),
                "revoked_at": _iso(key.revoked_at),
            }
            for key in api_keys_of(user=user)
        ],
        "consents": [
            {
                "purpose": record.purpose,
                "granted": record.granted,
                "created_at": _iso(record.created_at),
                "ip_address": record.ip_address,
                "user_agent": record.user_agent,
            }
            for record in ConsentRecord.objects.filter(user=user).order_by("created_at", "id")
        ],
        "oauth_connections": [
            {"provider": token.provider, "scope": token.scope, "created_at": _iso(token.created_at)}
            for token in user.oauth_tokens.order_by("provider")
        ],
    }
