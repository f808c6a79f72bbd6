"""Buyer snapshots: the customer as one version of their profile states them, kept once and shared by the
invoices priced while that version holds (see `BuyerSnapshot`).

A snapshot is made when the profile is saved (`profile_saved`), or by the first invoice of a version that has
none yet (profiles loaded in bulk, a user's name or email changed, a user without a profile). Finding the current
snapshot reads no encrypted field: only the profile's version.
"""
import json

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import salted_hmac

from accounts.selectors import saved_profile
from billing.models import BuyerSnapshot
from billing.selectors import buyer_snapshot, buyer_tax_vat_number
from billing.tax import tax_case

DIGEST_SALT = "billing.buyer_snapshot"


def _version(user) -> int:
    profile = saved_profile(user)
    return profile.version if profile else 0


def _digest(details: dict) -> str:
    """Keyed, so that the digest of a snapshot tells nothing of the personal data it holds."""
    return salted_hmac(DIGEST_SALT, json.dumps(details, sort_keys=True, cls=DjangoJSONEncoder)).hexdigest()


def _snapshot_of(user) -> BuyerSnapshot:
    details = buyer_snapshot(user)
    return BuyerSnapshot(
        user=user, profile_version=_version(user), digest=_digest(details), details=details,
        country=details["country"], language=details["language"],
        tax_case=tax_case(
            country=details["country"], vat_number=buyer_tax_vat_number(details),
            company_name=details["company_name"],
        ),
    )


def _stored(pairs: set[tuple[int, int]], digests: dict[int, str]) -> dict[int, BuyerSnapshot]:
    """The snapshots of these (user, profile version) pairs, details left encrypted in the database; a user
    without a profile (version 0) is matched on the digest of their details."""
    found = {}
    if not pairs:
        return found
    for snapshot in BuyerSnapshot.objects.defer("details").filter(
        user_id__any={user_id for user_id, _ in pairs}, profile_version__in={version for _, version in pairs}
    ).order_by("pk"):
        key = (snapshot.user_id, snapshot.profile_version)
        if key in pairs and (snapshot.profile_version or snapshot.digest == digests.get(snapshot.user_id)):
            found[snapshot.user_id] = snapshot
    return found


def buyer_snapshots_current(users) -> dict[int, BuyerSnapshot]:
    """The current snapshot of each user, by user id: one query when they all exist, which is the rule (the
    profiles of `users` may be loaded without their encrypted fields). Those missing are made from the profiles
    read again whole, in one insert."""
    users = {user.pk: user for user in users}
    return _current({pk: _version(user) for pk, user in users.items()}, users)


def buyer_snapshots_of(versions: dict[int, int]) -> dict[int, BuyerSnapshot]:
    """`buyer_snapshots_current` from each user's profile version as read with their subscription ({user id:
    version}, 0 without a profile): only users without a profile are read, to compare their details."""
    unversioned = [pk for pk, version in versions.items() if version == 0]
    users = get_user_model().objects.select_related("profile").in_bulk(unversioned) if unversioned else {}
    return _current(versions, users)


def _current(versions: dict[int, int], users: dict) -> dict[int, BuyerSnapshot]:
    """The snapshots of these versions; `users` holds at least the users of version 0."""
    # A user without a profile has no version to tell a change by: their (unencrypted) details are compared.
    digests = {pk: _digest(buyer_snapshot(users[pk])) for pk, version in versions.items() if version == 0}
    found = _stored(set(versions.items()), digests)
    missing = versions.keys() - found.keys()
    if missing:
        fresh = [_snapshot_of(user) for user in get_user_model().objects.select_related("profile").filter(
            pk__in=missing).order_by("pk")]
        BuyerSnapshot.objects.bulk_create(fresh, ignore_conflicts=True)  # another process may have made one
        found |= _stored(
            {(snapshot.user_id, snapshot.profile_version) for snapshot in fresh},
            {snapshot.user_id: snapshot.digest for snapshot in fresh},
        )
    return found


def profile_saved(sender, instance, **kwargs) -> None:
    """A saved profile is a new version: its snapshot is made now, once (connected in `BillingConfig.ready`). The
    user is read again: the saved instance's version is still the database's to count."""
    buyer_snapshots_current(get_user_model().objects.select_related("profile").filter(pk=instance.user_id))
