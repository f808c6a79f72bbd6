from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .audit_chain import KEY_ID_LENGTH
from .fields import EncryptedTextField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in with their email address."""

    username = None
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.email


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    FRENCH = "fr", "Français"


class EinvoiceFormat(models.TextChoices):
    """The e-invoice a customer's software reads: every invoice PDF embeds its Factur-X; UBL comes beside it."""

    FACTURX = "facturx", _("Factur-X (XML inside the PDF)")
    UBL = "ubl", _("UBL 2.1 (XML file beside the PDF)")


class ViesStatus(models.TextChoices):
    """What VIES said of the profile's EU VAT number (accounts.vies)."""

    UNCHECKED = "UNCHECKED", _("Not checked")
    VALID = "VALID", _("Valid")
    UNAVAILABLE = "UNAVAILABLE", _("VIES unavailable, to check again")
    INVALID = "INVALID", _("Rejected by VIES")


class UserProfile(models.Model):
    """Billing identity of a customer; address, postal code, phone and VAT number are encrypted at rest."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    full_name = models.CharField(max_length=200, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    vat_number = EncryptedTextField(blank=True)
    # The database defaults serve bulk loads that leave these columns out (the benches' COPY of profiles).
    vies_status = models.CharField(
        max_length=11, choices=ViesStatus.choices, default=ViesStatus.UNCHECKED, db_default=ViesStatus.UNCHECKED
    )
    vies_checked_at = models.DateTimeField(null=True, blank=True)
    vies_consultation_reference = models.CharField(
        max_length=64, blank=True, default="", db_default="",
        help_text="VIES's requestIdentifier: proof that the number was valid on that day.",
    )
    siren = models.CharField(
        max_length=9, blank=True, validators=[RegexValidator(r"^\d{9}$", "A SIREN has nine digits.")],
        help_text="French company number, printed on invoices (2026 e-invoicing reform).",
    )
    address_line1 = EncryptedTextField(blank=True)
    address_line2 = EncryptedTextField(blank=True)
    postal_code = EncryptedTextField(blank=True)
    city = models.CharField(max_length=120, blank=True)
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{2}$", "Use the ISO 3166 alpha-2 code, e.g. FR.")],
        help_text="ISO 3166 alpha-2; empty counts as France for tax.",
    )
    billing_email = models.EmailField(blank=True)
    phone = EncryptedTextField(blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    einvoice_format = models.CharField(
        max_length=7, choices=EinvoiceFormat.choices, default=EinvoiceFormat.FACTURX, db_default=EinvoiceFormat.FACTURX,
        help_text="Listed first on invoice pages; UBL is also attached to the invoice and credit-note emails.",
    )
    monthly_spend_cap = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="Most the customer will spend on overage in a period; metered calls stop (402) once reached.",
    )
    # Every save is a new version (counted by the database, so two saves at once never share one): billing keeps
    # one buyer snapshot per version, and the invoices issued while it holds read that instead of this row.
    version = models.PositiveIntegerField(default=1, db_default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A VIES verdict says when VIES gave it; an unchecked number has none.
            models.CheckConstraint(
                condition=models.Q(vies_status=ViesStatus.UNCHECKED, vies_checked_at__isnull=True)
                | (~models.Q(vies_status=ViesStatus.UNCHECKED) & models.Q(vies_checked_at__isnull=False)),
                name="profile_vies_checked_at_with_verdict",
            ),
        ]

    def __str__(self):
        return self.company_name or self.full_name or self.user.email

    def save(self, *args, update_fields=None, **kwargs):
        if self.pk is not None and not self._state.adding:
            self.version = models.F("version") + 1
            if update_fields is not None:
                update_fields = {*update_fields, "version"}
        super().save(*args, update_fields=update_fields, **kwargs)
        if isinstance(self.version, models.expressions.Combinable):
            self.refresh_from_db(fields=["version"])

    @property
    def invoice_email(self) -> str:
        return self.billing_email or self.user.email


# What each scope of an API key opens (checked by accounts.permissions), in the order pages list them. English
# here (the API schema); marked for the catalogue, the pages translate them when they show them.
API_KEY_SCOPES = {
    "docs:read": gettext_noop("Read the documentation (docs API and MCP); each call is metered on your plan."),
    "billing:read": gettext_noop("Read your invoices, payments, subscription, plans, credits, alerts and usage."),
    "billing:write": gettext_noop("Change, pause, resume or cancel your subscription, and mark alerts read."),
    "account:admin": gettext_noop("Create and revoke your API keys and export your personal data."),
    "usage:write": gettext_noop("Report usage events for every customer (the documentation server's key)."),
}
# What a customer may give their keys, and what a browser session holds: every scope but `usage:write`, which
# reports usage for everybody and is issued by staff in the admin.
CUSTOMER_API_KEY_SCOPES = tuple(scope for scope in API_KEY_SCOPES if scope != "usage:write")


class ApiKey(models.Model):
    """An API credential `tmcp_<prefix>_<secret>`: the secret is shown once and only its hash is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the secret, hex.")
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} (tmcp_{self.prefix}_…)"

    def is_usable(self, *, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class OAuthToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oauth_tokens")
    provider = models.CharField(max_length=50)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth token"
        constraints = [models.UniqueConstraint(fields=["user", "provider"], name="oauth_token_user_provider_unique")]

    def __str__(self):
        return f"{self.provider} token of {self.user}"


class ConsentPurpose(models.TextChoices):
    TERMS = "TERMS", _("Terms of service")
    MARKETING_EMAIL = "MARKETING_EMAIL", _("Marketing emails")
    USAGE_ANALYTICS = "USAGE_ANALYTICS", _("Usage analytics")


class ConsentRecord(models.Model):
    """One decision of a user about one purpose; the newest per purpose is in force, older ones are history."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=40, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "purpose", "-created_at"], name="consent_user_purpose_idx")]

    def __str__(self):
        return f"{self.user} {'granted' if self.granted else 'withdrew'} {self.purpose}"


class AuditLog(models.Model):
    """Append-only trail of every operation on money, subscriptions and keys.

    Hash-chained: `hash` is an HMAC, under the key `key_id` names (`AUDIT_LOG_KEYS`), of the row's content and
    `previous_hash`, the hash of the row before it, so an edited or removed row breaks the chain, even when
    the hashes after it are recomputed without the key (`manage.py verify_audit_log`). In PostgreSQL triggers
    refuse UPDATE, DELETE and TRUNCATE on the table.
    """

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    previous_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    key_id = models.CharField(max_length=KEY_ID_LENGTH, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["created_at"], name="audit_created_idx"),
        ]

    def __str__(self):
        return f"{self.action} {self.object_type}#{self.object_id}"


class AuditChainHead(models.Model):
    """The newest link of the audit chain: locked to append, so that links never fork, and kept so that
    removing the newest rows is seen too."""

    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_single_row")]

    def __str__(self):
        return f"audit chain at #{self.last_id}"
