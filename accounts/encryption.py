"""Encryption at rest for personal data: Fernet tokens under a list of keys, newest first."""
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty: no key to encrypt personal data with.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY holds a key that is not a Fernet key: {error}") from error


def field_cipher() -> MultiFernet:
    """The cipher for the keys in settings now: it encrypts with the first, decrypts with any."""
    return _multi_fernet(tuple(settings.FIELD_ENCRYPTION_KEY))


def encrypt_text(plaintext: str) -> str:
    return field_cipher().encrypt(plaintext.encode()).decode()


RETIRED_KEY_REMOVED = (
    "An encrypted value matches none of the keys in FIELD_ENCRYPTION_KEY: a retired key was removed too soon."
)


def decrypt_text(token: str) -> str:
    try:
        return field_cipher().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(RETIRED_KEY_REMOVED) from error


def is_on_newest_key(token: str) -> bool:
    """True when `token` was encrypted with the first (newest) key of FIELD_ENCRYPTION_KEY."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEY[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate_token(token: str) -> str:
    """The same plaintext under the newest key (any key of the list may have encrypted `token`)."""
    try:
        return field_cipher().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(RETIRED_KEY_REMOVED) from error
