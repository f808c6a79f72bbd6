import hashlib
import hmac
import re
import secrets
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from stdnum.eu import vat as eu_vat

from core.db import rows_insert

from .audit import current_audit_context
from .audit_chain import GENESIS_HASH, audit_keys, signing_key, unkeyed_hash
from .encryption import is_on_newest_key, rotate_token
from .fields import EncryptedTextField
from .models import (
    API_KEY_SCOPES,
    ApiKey,
    AuditChainHead,
    AuditLog,
    ConsentPurpose,
    ConsentRecord,
    OAuthToken,
    User,
    UserProfile,
    ViesStatus,
)
from .personal_data import personal_data_collect
from .selectors import account_export, api_key_with_user, customer_language, saved_profile
from .vies import UNREACHABLE, ViesAnswer, vat_number_check, vies_applies


def audit_entry(*, action: str, obj: models.Model, changes: dict | None = None, actor=None) -> AuditLog:
    """An unsaved audit row for `obj`, with the actor, IP and user agent of the current request."""
    # `_meta.model`, not `type(obj)`: the request's user is a lazy object.
    return audit_entry_for(action=action, model=obj._meta.model, pk=obj.pk, changes=changes, actor=actor)


def audit_entry_for(
    *, action: str, model: type[models.Model], pk, changes: dict | None = None, actor=None
) -> AuditLog:
    """`audit_entry` for the row of `model` whose primary key is `pk`, where no instance of it was made (a row read
    as values)."""
    context = current_audit_context()
    return AuditLog(
        actor_id=actor.pk if actor is not None else context.actor_id,
        action=action,
        object_type=model._meta.label,
        object_id=str(pk),
        changes=changes or {},
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )


def audit_log_record(*, action: str, obj: models.Model, changes: dict | None = None, actor=None) -> AuditLog:
    [entry] = audit_log_record_many([audit_entry(action=action, obj=obj, changes=changes, actor=actor)])
    return entry


@transaction.atomic
def audit_log_record_many(entries: Iterable[AuditLog]) -> list[AuditLog]:
    """Append rows to the chain, each signed with the newest audit key. The head row stays locked until the
    caller's transaction ends, so concurrent writers link one after the other and never fork the chain."""
    entries = list(entries)
    if not entries:
        return entries
    key = signing_key()
    AuditChainHead.objects.bulk_create([AuditChainHead(id=1)], ignore_conflicts=True)
    head = AuditChainHead.objects.select_for_update().get(id=1)
    previous = head.last_hash or GENESIS_HASH
    for entry in entries:
        entry.previous_hash, entry.key_id = previous, key.key_id
        entry.hash = previous = key.sign(entry, previous_hash=previous)
    rows_insert(AuditLog, entries)
    head.last_id, head.last_hash = entries[-1].pk, previous
    head.save(update_fields=["last_id", "last_hash"])
    return entries


API_KEY_PREFIX_BYTES = 4  # 8 hex characters, shown in lists
API_KEY_SECRET_BYTES = 32  # 256 bits of secret
LAST_USED_WRITE_INTERVAL = timedelta(minutes=1)  # last_used_at is precise to the minute, not written on every call
API_KEY_CACHE_TIMEOUT = 60  # seconds: how long a key's lookup is cached (see api_key_authenticate)
# A generation outlives the lookups cached under it; it expires too, so that a token naming no key leaves
# nothing behind in the Redis that also carries the Celery queue.
API_KEY_GENERATION_TIMEOUT = 2 * API_KEY_CACHE_TIMEOUT
# `tmcp_<prefix>_<secret>`: the prefix as `ApiKey.prefix` holds it (up to 12 characters), a URL-safe secret.
# Anything else is refused before any lookup.
API_KEY_TOKEN_PATTERN = re.compile(r"tmcp_([a-z0-9]{1,12})_([A-Za-z0-9_-]{16,128})")


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    token: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, user, name: str, scopes: Iterable[str], expires_at=None, grantable: Iterable[str] | None = None
) -> IssuedApiKey:
    """A new key `tmcp_<prefix>_<secret>`: only the secret's SHA-256 is kept, the token is returned once.

    `grantable` is what the caller may hand out: a customer, only the scopes their own credential holds, so that
    a key never creates a key stronger than itself. Staff and the demo seed pass none and may give any scope.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name."})
    scopes = set(scopes)
    unknown = sorted(scopes - set(API_KEY_SCOPES))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})
    withheld = sorted(scopes - set(grantable)) if grantable is not None else []
    if withheld:
        raise ValidationError({"scopes": f"You cannot give a key a scope you lack: {', '.join(withheld)}."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    secret = secrets.token_urlsafe(API_KEY_SECRET_BYTES)
    while True:
        prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user, name=name, prefix=prefix, key_hash=hash_secret(secret), scopes=sorted(scopes),
                    expires_at=expires_at,
                )
            break
        except IntegrityError:  # a prefix already taken: draw another
            continue
    audit_log_record(action="api_key.create", obj=api_key, changes={"name": name, "scopes": api_key.scopes})
    return IssuedApiKey(api_key=api_key, token=f"tmcp_{prefix}_{secret}")


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, now=None) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = now or timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_log_record(action="api_key.revoke", obj=api_key)
    return api_key


def _api_key_cache_keys(prefix: str) -> tuple[str, str]:
    return f"api-key:{prefix}:generation", f"api-key:{prefix}"


def api_key_cache_forget(prefixes: Iterable[str]) -> None:
    """Never serve these keys' cached lookups again: now, and again once the current transaction commits.

    Each key's lookup is cached under the key's *generation*, a random token; forgetting draws a new one. The
    second draw is the one that counts: a call between the first and the commit still read the old row and may
    have cached it under the first new generation. `accounts.receivers` calls it whenever a key or a user is
    saved or deleted.
    """
    prefixes = sorted(set(prefixes))

    def draw():
        cache.set_many(
            {_api_key_cache_keys(prefix)[0]: uuid.uuid4().hex for prefix in prefixes},
            timeout=API_KEY_GENERATION_TIMEOUT,
        )

    if prefixes:
        draw()
        transaction.on_commit(draw, robust=True)


def _api_key_lookup(prefix: str) -> tuple[ApiKey | None, str | None]:
    """The key of `prefix` with its user: from the cache while it holds it under the key's current generation
    (both read in one round trip), else from the database with the generation to cache it under."""
    generation_key, entry_key = _api_key_cache_keys(prefix)
    found = cache.get_many([generation_key, entry_key])
    generation, entry = found.get(generation_key), found.get(entry_key)
    if generation is not None and entry is not None and entry[0] == generation:
        return entry[1], None
    if generation is None:  # first call, evicted, or Redis down
        generation = uuid.uuid4().hex
        # another call drew one first: use theirs
        if cache.add(generation_key, generation, timeout=API_KEY_GENERATION_TIMEOUT) is False:
            generation = cache.get(generation_key) or generation
    return api_key_with_user(prefix=prefix), generation


def api_key_authenticate(token: str, *, now=None) -> ApiKey | None:
    """The usable key a token names, or None; the secret is compared in constant time.

    A key that authenticated is cached with its user for `API_KEY_CACHE_TIMEOUT`, and forgotten as soon as the
    key or its user is saved or deleted (revoked, edited, deactivated): such a key is refused on the very next
    call. The expiry is checked on every call. Only a change made without the ORM's save or delete (a bulk
    `update()`, SQL), or while Redis was unreachable, can go unseen, for `API_KEY_CACHE_TIMEOUT` at most.
    """
    match = API_KEY_TOKEN_PATTERN.fullmatch(token or "")
    if match is None:
        return None
    prefix, secret = match.groups()
    now = now or timezone.now()
    api_key, generation = _api_key_lookup(prefix)
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_secret(secret)):
        return None
    if not api_key.is_usable(now=now) or not api_key.user.is_active:
        return None
    if generation is not None:  # read from the database: cache it, and mark it used
        # About one write a minute per key in use, decided on the row just read: the cached lookup lives a minute.
        if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_WRITE_INTERVAL:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
        cache.set(_api_key_cache_keys(prefix)[1], (generation, api_key), timeout=API_KEY_CACHE_TIMEOUT)
    return api_key


@dataclass
class AuditChainReport:
    rows: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)


def audit_chain_verify() -> AuditChainReport:
    """Recompute every link with the key that signed it: an edited row no longer matches its hash, a removed
    one breaks the chain, and hashes recomputed after an edit without the key match none."""
    report = AuditChainReport()
    keys = audit_keys()
    previous = GENESIS_HASH
    last_id = 0
    for row in AuditLog.objects.order_by("id").iterator(chunk_size=5000):
        report.rows += 1
        if row.previous_hash != previous:
            report.problems.append(f"row #{row.id}: the row before it is missing or was altered (chain broken)")
        key = keys.get(row.key_id)
        if key is None:
            report.problems.append(
                f"row #{row.id}: signed by an unknown key (key id {row.key_id!r}): a key dropped from "
                "AUDIT_LOG_KEYS too early, or a forged row"
            )
        elif not hmac.compare_digest(key.sign(row, previous_hash=row.previous_hash), row.hash):
            report.problems.append(f"row #{row.id}: {_mismatch(row)}")
        previous, last_id = row.hash, row.id
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and (head.last_id, head.last_hash or GENESIS_HASH) != (last_id, previous):
        report.problems.append(
            f"the newest rows are missing: the chain ended at #{head.last_id}, the table at #{last_id}"
        )
    report.head_hash = previous
    return report


def _mismatch(row: AuditLog) -> str:
    if unkeyed_hash(row, previous_hash=row.previous_hash) == row.hash:
        return "its hash is a plain SHA-256, recomputed without the audit key: the chain was re-hashed from here"
    return f"its content was altered, or its hash recomputed with another key ({row.action} {row.object_type})"


# The profile fields a customer edits on the billing profile page.
PROFILE_FIELDS = frozenset({
    "full_name", "company_name", "billing_email", "phone", "address_line1", "address_line2", "postal_code", "city",
    "country", "vat_number", "siren", "language", "einvoice_format", "monthly_spend_cap",
})


def profile_update(*, user, now=None, **fields) -> UserProfile:
    """Set the billing profile of `user` (created on first save); the audit row names the fields, not their
    values, which are personal data.

    An EU VAT number given is checked with VIES first, before any row is locked (accounts.vies): one VIES rejects
    raises ValidationError on `vat_number` and nothing is saved; one VIES could not check is saved as
    UNAVAILABLE, for `vat_numbers_recheck` to check again.
    """
    unknown = sorted(set(fields) - PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"Not a profile field: {', '.join(unknown)}.")
    answer = _vies_answer_of(user=user, fields=fields, now=now or timezone.now())
    if answer is not None and answer.status == ViesStatus.INVALID:
        raise ValidationError({"vat_number": _vies_rejected_message(fields["vat_number"])})
    with transaction.atomic():
        profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
        changed = sorted(name for name, value in fields.items() if getattr(profile, name) != value)
        for name in changed:
            setattr(profile, name, fields[name])
        if "vat_number" in fields:
            _vies_answer_set(profile, answer, number_changed=bool({"vat_number", "country"} & set(changed)))
        profile.full_clean()
        profile.save()
        if changed:
            audit_log_record(action="profile.update", obj=profile, changes={"fields": changed})
    return profile


def _vies_rejected_message(vat_number: str) -> str:
    return _(
        "VIES does not know this VAT number (%(vat_number)s): check it with your tax office, or leave the field "
        "empty to be invoiced with VAT."
    ) % {"vat_number": vat_number}


def _vies_answer_of(*, user, fields: dict, now) -> ViesAnswer | None:
    """What VIES says of the EU VAT number in `fields`; None when there is none to check."""
    if "vat_number" not in fields:
        return None
    profile = saved_profile(user)
    country = fields["country"] if "country" in fields else (profile.country if profile else "")
    if not vies_applies(vat_number=fields["vat_number"], country=country):
        return None
    return vat_number_check(vat_number=fields["vat_number"], now=now)


def _vies_answer_set(profile: UserProfile, answer: ViesAnswer | None, *, number_changed: bool) -> bool:
    """Record `answer` on the locked `profile` (no answer: a number VIES does not cover, or none); whether it
    changed the profile's check, which is then audited.

    VIES being down changes no earlier verdict on the same number: a valid one's reference stays the proof, a
    rejected one stays rejected.
    """
    if answer is None:
        profile.vies_status, profile.vies_checked_at = ViesStatus.UNCHECKED, None
        profile.vies_consultation_reference = ""
        return False
    if answer.status == ViesStatus.UNAVAILABLE and profile.vies_status != ViesStatus.UNCHECKED and not number_changed:
        return False
    profile.vies_status, profile.vies_checked_at = answer.status, answer.checked_at
    profile.vies_consultation_reference = answer.reference
    audit_log_record(action="profile.vies_check", obj=profile, changes={
        "status": answer.status, "reference": answer.reference, "fault": answer.fault,
        "checked_at": answer.checked_at.isoformat(),
    })
    return True


def profile_vies_verdict_drop(*, profile: UserProfile) -> None:
    """Forget, on the unsaved `profile` its caller is saving, the VIES verdict of a VAT number changed outside
    `profile_update` (by staff in the admin): the new number is UNCHECKED until `vat_numbers_recheck` asks VIES."""
    _vies_answer_set(profile, None, number_changed=True)


# A number VIES found valid is asked again after this long: a company closes, its number is withdrawn.
VIES_RECHECK_AFTER = timedelta(days=30)


def vat_numbers_recheck(*, now=None) -> int:
    """Check again with VIES every EU VAT number it could not check (UNAVAILABLE), never checked (saved before
    the check existed, or by staff in the admin) or found valid over VIES_RECHECK_AFTER ago; how many answers
    were recorded (VIES still down records none).

    Each profile in a short transaction of its own, VIES asked outside it. A number VIES now rejects turns
    INVALID: its owner is emailed, and their invoices stop reverse-charging it (billing reads `vies_status`).
    """
    now = now or timezone.now()
    due = (
        UserProfile.objects.exclude(vat_number="")
        .filter(country__in=[state.upper() for state in eu_vat.MEMBER_STATES])
        .filter(
            models.Q(vies_status__in=[ViesStatus.UNCHECKED, ViesStatus.UNAVAILABLE])
            | models.Q(vies_status=ViesStatus.VALID, vies_checked_at__lt=now - VIES_RECHECK_AFTER)
        )
        .order_by("pk")
    )
    changed = 0
    for profile_id, vat_number in [(profile.pk, profile.vat_number) for profile in due.only("pk", "vat_number")]:
        answer = vat_number_check(vat_number=vat_number, now=now)
        changed += _vies_recheck_apply(profile_id=profile_id, vat_number=vat_number, answer=answer)
        if answer.fault == UNREACHABLE:  # VIES itself is down: the others wait for the next run, not each a timeout
            break
    return changed


@transaction.atomic
def _vies_recheck_apply(*, profile_id: int, vat_number: str, answer: ViesAnswer) -> bool:
    profile = UserProfile.objects.select_for_update().select_related("user").get(pk=profile_id)
    if profile.vat_number != vat_number:  # changed by its owner meanwhile, and checked then
        return False
    if not _vies_answer_set(profile, answer, number_changed=False):
        return False
    profile.save(update_fields=["vies_status", "vies_checked_at", "vies_consultation_reference", "updated_at"])
    if profile.vies_status == ViesStatus.INVALID:
        checked_date = timezone.localtime(answer.checked_at, zoneinfo.ZoneInfo(settings.BILLING_TIME_ZONE)).date()
        _email_send(
            to=profile.invoice_email, template="vat_number_rejected", language=customer_language(profile),
            context=_email_context(
                name=profile.full_name or profile.user.get_full_name(), vat_number=vat_number,
                checked_date=checked_date, profile_url=settings.SITE_URL + reverse("accounts:profile"),
            ),
        )
    return True


@transaction.atomic
def consent_record(
    *, user, purpose: str, granted: bool, ip_address: str | None = None, user_agent: str = "", now=None
) -> ConsentRecord:
    """One more decision about `purpose`, audited; the newest record per purpose is in force, the older ones stay."""
    if purpose not in ConsentPurpose.values:
        raise ValidationError({"purpose": f"Unknown purpose: {purpose}."})
    record = ConsentRecord.objects.create(
        user=user, purpose=purpose, granted=granted, ip_address=ip_address or None, user_agent=(user_agent or "")[:500],
        created_at=now or timezone.now(),
    )
    entry = audit_entry(
        action="consent.give" if granted else "consent.withdraw", obj=record,
        changes={"purpose": purpose, "granted": granted},
    )
    # The audit row names where the decision was made, as the record does, also when it is not the request's.
    entry.ip_address, entry.user_agent = record.ip_address, record.user_agent
    audit_log_record_many([entry])
    return record


ERASED_EMAIL_DOMAIN = "erased.invalid"
ERASED_PROFILE_FIELDS = (
    "full_name", "company_name", "billing_email", "phone", "address_line1", "address_line2", "postal_code", "city",
    "vat_number", "vies_consultation_reference", "siren",
)


@transaction.atomic
def account_erase(*, user, now=None) -> User:
    """Erase a customer's personal data and close the account; invoices keep their issue-time snapshot.

    The user is deactivated with an unusable password: both end every session of theirs on its next request
    (Django checks `is_active` and the password hash of each session). Keys are revoked, OAuth tokens deleted,
    consent records kept as proof without their IP address and user agent. The country stays: it sets the tax
    of an invoice still to come for the current period.
    """
    now = now or timezone.now()
    user = User.objects.select_for_update().get(pk=user.pk)
    # The login throttle's records name the account by its email.
    for record in (AccessAttempt, AccessLog, AccessFailureLog):
        record.objects.filter(username__iexact=user.email).delete()
    for api_key in ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("pk"):
        api_key_revoke(api_key=api_key, now=now)
    OAuthToken.objects.filter(user=user).delete()
    ConsentRecord.objects.filter(user=user).update(ip_address=None, user_agent="")
    UserProfile.objects.filter(user=user).update(
        **{name: "" for name in ERASED_PROFILE_FIELDS}, vies_status=ViesStatus.UNCHECKED, vies_checked_at=None,
        updated_at=now, version=models.F("version") + 1,
    )
    user.email = f"erased-{user.pk}@{ERASED_EMAIL_DOMAIN}"
    user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "first_name", "last_name", "is_active", "password"])
    for eraser in settings.PERSONAL_DATA_ERASERS:
        import_string(eraser)(user=user, now=now)
    _sessions_end(user)
    audit_log_record(action="account.erase", obj=user)
    return user


def _sessions_end(user) -> None:
    """Delete the user's sessions now rather than waiting for their next request to find them void."""
    user_id = str(user.pk)
    ended = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get("_auth_user_id") == user_id
    ]
    Session.objects.filter(session_key__in=ended).delete()


ROTATION_BATCH_SIZE = 500


@dataclass
class RotationReport:
    rotated: int = 0
    already_current: int = 0
    per_column: dict[str, int] = field(default_factory=dict)


def encrypted_columns() -> list[tuple[type[models.Model], str]]:
    """Every (model, column) holding Fernet tokens."""
    return [
        (model, model_field.column)
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, EncryptedTextField)
    ]


def _token_batches(model, column: str, *, batch_size: int):
    """Non-empty tokens of one column by primary key, read raw (the ORM would decrypt them)."""
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = connection.ops.quote_name(column)
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {quoted} FROM {table} WHERE id > %s AND {quoted} <> '' ORDER BY id LIMIT %s",
                [last_id, batch_size],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def encryption_keys_rotate(*, batch_size: int = ROTATION_BATCH_SIZE, log=None) -> RotationReport:
    """Re-encrypt every value with the newest key, one short transaction per batch.

    Resumable: a value already under the newest key is left alone, so a stopped run just starts again.
    Reads keep working throughout, since every key of the list still decrypts until the run is over.
    """
    report = RotationReport()
    for model, column in encrypted_columns():
        table = connection.ops.quote_name(model._meta.db_table)
        quoted = connection.ops.quote_name(column)
        label = f"{model._meta.label}.{column}"
        for rows in _token_batches(model, column, batch_size=batch_size):
            stale = [(pk, token) for pk, token in rows if not is_on_newest_key(token)]
            report.already_current += len(rows) - len(stale)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET {quoted} = %s WHERE id = %s AND {quoted} = %s",
                    [(rotate_token(token), pk, token) for pk, token in stale],
                )
            report.rotated += len(stale)
            report.per_column[label] = report.per_column.get(label, 0) + len(stale)
            if log:
                log(f"{label}: {len(stale)} re-encrypted up to #{rows[-1][0]}")
    return report


def encryption_keys_check(*, batch_size: int = ROTATION_BATCH_SIZE) -> dict[str, int]:
    """How many values per column are still under a key other than the newest (all zero after a rotation)."""
    stale = {}
    for model, column in encrypted_columns():
        count = sum(
            1 for rows in _token_batches(model, column, batch_size=batch_size) for _, token in rows
            if not is_on_newest_key(token)
        )
        stale[f"{model._meta.label}.{column}"] = count
    return stale


def _audit_export(entry: AuditLog, *, user, owned: set[tuple[str, str]]) -> dict:
    """An audit entry as its subject may see it: a staff member's identity, IP and browser are theirs, not the
    customer's; the changes of an object that is not the customer's are left out."""
    by_them = entry.actor_id == user.pk
    return {
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "changes": entry.changes if (entry.object_type, entry.object_id) in owned else {},
        "actor": "you" if by_them else ("system" if entry.actor_id is None else "staff"),
        "ip_address": entry.ip_address if by_them else None,
        "user_agent": entry.user_agent if by_them else "",
        "created_at": entry.created_at.isoformat(),
    }


@transaction.atomic
def user_data_export(*, user, now=None) -> dict:
    """Everything the product holds about `user` and nobody else, as plain JSON values (GDPR access request).

    The accounts data, then each app's section (billing: subscriptions, invoices, payments, credits, usage per
    month…), then the audit entries about the person's objects or made by them. The export itself is audited.
    """
    now = now or timezone.now()
    data = account_export(user=user, now=now)
    objects: dict[str, set[str]] = {
        User._meta.label: {str(user.pk)},
        UserProfile._meta.label: {str(pk) for pk in UserProfile.objects.filter(user=user).values_list("pk", flat=True)},
        ApiKey._meta.label: {str(pk) for pk in ApiKey.objects.filter(user=user).values_list("pk", flat=True)},
        ConsentRecord._meta.label: {
            str(pk) for pk in ConsentRecord.objects.filter(user=user).values_list("pk", flat=True)
        },
    }
    for personal_data in personal_data_collect(user=user):
        data.update(personal_data.sections)
        for label, pks in personal_data.objects.items():
            objects.setdefault(label, set()).update(str(pk) for pk in pks)
    about = models.Q(actor=user)
    for label, pks in objects.items():
        if pks:
            about |= models.Q(object_type=label, object_id__in=sorted(pks))
    owned = {(label, pk) for label, pks in objects.items() for pk in pks}
    data["audit_log"] = [
        _audit_export(entry, user=user, owned=owned)
        for entry in AuditLog.objects.filter(about).order_by("created_at", "id")
    ]
    audit_log_record(action="account.export", obj=user, actor=user)
    return data


def sessions_purge() -> int:
    """Delete expired sessions (Django keeps them until someone clears them)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@transaction.atomic
def user_email_change_notify(*, user, old_email: str, now=None) -> None:
    """Tell the previous login address that the account now signs in with `user.email`, when, and whom to
    contact: if the change was not its owner's, they hear of it where they still read their mail (the new
    address receives the password resets). Sent once the change is committed; call it whenever a login changes."""
    if old_email == user.email:
        return
    profile = saved_profile(user)
    context = {
        "name": (profile.full_name if profile else "") or user.get_full_name(),
        "old_email": old_email,
        "new_email": user.email,
        "changed_at": now or timezone.now(),
        "contact_name": settings.SELLER["name"],
        "contact_email": settings.SELLER["email"],
    }
    # In the customer's language, the time in the product's zone (the one the invoices use).
    with translation.override(customer_language(profile)), timezone.override(settings.BILLING_TIME_ZONE):
        subject = render_to_string("accounts/emails/login_email_changed_subject.txt", context)
        body = render_to_string("accounts/emails/login_email_changed.txt", context)
    message = EmailMessage(
        subject=" ".join(subject.split()), body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[old_email]
    )
    # Robust: a mail server that is down must not undo the change, which is already committed.
    transaction.on_commit(message.send, robust=True)


# Self-service sign-up. The account is created inactive (`is_active=False`) until its owner follows the link
# mailed to the address: Django's login, the password reset and the API keys all refuse an inactive user
# already, so an address nobody proved to own opens nothing. Confirming activates it once, then calls the
# handlers the settings name (`SIGNUP_CONFIRMED_HANDLERS`: billing's free subscription), as the GDPR export asks
# its providers, so that accounts never imports the apps above it.
SIGNUP_TOKEN_SALT = "accounts.signup.confirm"


class SignupLinkError(Exception):
    """A confirmation link that cannot confirm: `reason` is "invalid" (forged, mangled, or superseded by a later
    sign-up), "expired" (older than SIGNUP_CONFIRM_MAX_AGE) or "used" (the account is confirmed already)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _awaiting_confirmation(user: User) -> bool:
    """Signed up here and never confirmed: inactive, never logged in, with a password (an erased account has
    none), and opened by a sign-up (an account staff made and deactivated is not open to a new sign-up)."""
    return (
        not user.is_active and user.last_login is None and user.has_usable_password()
        and AuditLog.objects.filter(action="account.signup", object_type=User._meta.label, object_id=str(user.pk))
        .exists()
    )


def _signup_fingerprint(user: User) -> str:
    """What a link is good for: this account, in this state, with this password. Confirming (active), logging in
    (last_login) or signing up again (a new password) changes it, so each link works once and only the newest."""
    state = f"{user.pk}|{user.email}|{user.password}|{user.is_active}|{user.last_login}"
    return salted_hmac(SIGNUP_TOKEN_SALT, state, algorithm="sha256").hexdigest()[:32]


def signup_token_make(*, user: User) -> str:
    """The signed, timestamped token of the confirmation link (django.core.signing)."""
    return signing.dumps({"user": user.pk, "state": _signup_fingerprint(user)}, salt=SIGNUP_TOKEN_SALT)


def signup_link_user(*, token: str, lock: bool = False) -> User:
    """The account a confirmation link may confirm; raises SignupLinkError. With `lock`, its row stays locked
    until the caller's transaction ends, so that two clicks confirm it once."""
    try:
        payload = signing.loads(token, salt=SIGNUP_TOKEN_SALT, max_age=settings.SIGNUP_CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        raise SignupLinkError("expired") from None
    except signing.BadSignature:
        raise SignupLinkError("invalid") from None
    users = User.objects.select_for_update() if lock else User.objects.all()
    user = users.filter(pk=payload.get("user")).first() if isinstance(payload, dict) else None
    if user is None:
        raise SignupLinkError("invalid")
    if not hmac.compare_digest(_signup_fingerprint(user), str(payload.get("state", ""))):
        raise SignupLinkError("used" if user.is_active else "invalid")
    if not _awaiting_confirmation(user):
        raise SignupLinkError("invalid")
    return user


def _email_send(*, to: str, template: str, context: dict, language: str) -> None:
    """Render `accounts/emails/<template>_subject.txt` and `.txt` in `language` and send them once the
    transaction commits (robust: a mail server that is down must not undo the sign-up)."""
    with translation.override(language):
        subject = render_to_string(f"accounts/emails/{template}_subject.txt", context)
        body = render_to_string(f"accounts/emails/{template}.txt", context)
    message = EmailMessage(
        subject=" ".join(subject.split()), body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    transaction.on_commit(message.send, robust=True)


def _email_context(**context) -> dict:
    return {**context, "contact_name": settings.SELLER["name"], "contact_email": settings.SELLER["email"]}


@transaction.atomic
def signup_request(
    *, email: str, password: str, consents: Iterable[str], language: str, ip_address: str | None = None,
    user_agent: str = "", now=None,
) -> None:
    """Sign up `email` (the form validated the password): the caller answers the same whatever happened here.

    A new address gets an inactive account, its consents (`consents`: the purposes granted, the terms among
    them) and a confirmation link. An address still awaiting confirmation is signed up again: the new
    password replaces the old and only the new link works. An account already in use is left untouched and
    its owner is told that someone tried to sign up with their address. The password is hashed in every case,
    so that the answer takes as long whether the address is known or not.
    """
    consents = list(consents)
    if ConsentPurpose.TERMS not in consents:
        raise ValidationError({"terms": "An account is opened only on accepting the terms of service."})
    now = now or timezone.now()
    email = User.objects.normalize_email(email).strip()
    language = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    user = User.objects.select_for_update().filter(email__iexact=email).order_by("pk").first()
    if user is not None and not _awaiting_confirmation(user):
        make_password(password)  # the work a new account's hashing does: no timing tells the two apart
        audit_log_record(action="account.signup_existing", obj=user)
        _email_send(
            to=user.email, template="signup_existing", language=customer_language(saved_profile(user)),
            context=_email_context(
                email=user.email, login_url=settings.SITE_URL + reverse("accounts:login"),
                reset_url=settings.SITE_URL + reverse("accounts:password_reset"),
            ),
        )
        return
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password, is_active=False, date_joined=now)
        except IntegrityError:
            return  # the same address signing up at the same instant: that request mails its owner
        UserProfile.objects.create(user=user, language=language)
        audit_log_record(action="account.signup", obj=user, actor=user)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_log_record(action="account.signup_again", obj=user, actor=user)
    for purpose in consents:
        consent_record(
            user=user, purpose=purpose, granted=True, ip_address=ip_address, user_agent=user_agent, now=now
        )
    confirm_url = settings.SITE_URL + reverse("accounts:signup_confirm", args=[signup_token_make(user=user)])
    _email_send(
        to=user.email, template="signup_confirm", language=language,
        context=_email_context(
            email=user.email, confirm_url=confirm_url, valid_days=settings.SIGNUP_CONFIRM_MAX_AGE // (24 * 3600),
            valid_hours=settings.SIGNUP_CONFIRM_MAX_AGE // 3600,
        ),
    )


@transaction.atomic
def signup_confirm(*, token: str, password: str, now=None) -> User:
    """Confirm the account of a link, once: activate it and call each of `SIGNUP_CONFIRMED_HANDLERS` as
    `handler(user=, now=)` in the same transaction. Raises SignupLinkError (a second click: "used").

    The link proves the address; `password`, the one chosen on signing up, proves that whoever confirms also made
    that sign-up: someone who signed up with another person's address (who then follows the link) cannot get
    an account they know the password of. A wrong one raises ValidationError and changes nothing.
    """
    now = now or timezone.now()
    user = signup_link_user(token=token, lock=True)
    if not user.check_password(password):
        raise ValidationError({"password": _("This is not the password chosen when signing up.")})
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_log_record(action="account.confirm", obj=user, actor=user)
    for handler in settings.SIGNUP_CONFIRMED_HANDLERS:
        import_string(handler)(user=user, now=now)
    return user
