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
