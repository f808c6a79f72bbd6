import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .encryption import decrypt_text, encrypt_text


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token: raw SQL shows ciphertext, the ORM plaintext.

    The empty string is stored as is, so that "not given" needs no decryption; such a field
    cannot be filtered on, since each encryption of the same text differs.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)


class EncryptedJSONField(EncryptedTextField):
    """A JSON document stored as a Fernet token; it cannot be queried by key, only read whole."""

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_text(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return json.loads(decrypt_text(value))

    def to_python(self, value):
        return json.loads(value) if isinstance(value, str) and value else value

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), cls=DjangoJSONEncoder)
