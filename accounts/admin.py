from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from .admin_mixins import (
    FormChangesAuditMixin,
    ObjectAction,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    action_page,
    back_to_object,
    run_for_each,
)
from .fields import EncryptedTextField
from .models import ApiKey, AuditChainHead, AuditLog, ConsentRecord, OAuthToken, User, UserProfile
from .services import api_key_revoke, profile_vies_verdict_drop, user_email_change_notify
from .templatetags.audit_format import audit_changes

# Encrypted fields hold one-line values (address line, phone, VAT number), not prose.
ENCRYPTED_AS_ONE_LINE = {EncryptedTextField: {"widget": forms.TextInput(attrs={"size": 60})}}


class EmailUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


# What VIES said of the VAT number: set by the check at save and the re-check task, never typed in.
VIES_CHECK_FIELDS = ("vies_status", "vies_checked_at", "vies_consultation_reference")


def vies_verdict_drop_if_changed(form) -> None:
    """Staff changed the VAT number or the country of a profile: the earlier VIES verdict is not the new number's,
    which the hourly re-check (`vat_numbers_recheck`) checks."""
    if {"vat_number", "country"} & set(form.changed_data) and form.instance.pk is not None:
        profile_vies_verdict_drop(profile=form.instance)


class UserProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False
    formfield_overrides = ENCRYPTED_AS_ONE_LINE
    readonly_fields = (*VIES_CHECK_FIELDS, "created_at", "updated_at")


@admin.register(User)
class UserAdmin(FormChangesAuditMixin, DjangoUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    inlines = (UserProfileInline,)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "first_name", "last_name", "company_name", "is_staff", "is_active", "date_joined")
    list_select_related = ("profile",)
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name", "profile__company_name")
    ordering = ("email",)
    date_hierarchy = "date_joined"

    # Staff who are not superusers (Finance) edit customers' billing identity, never who is staff or what they may
    # do, nor the account's history; a password is set by the customer or a superuser.
    ACCESS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions", "last_login", "date_joined")
    # Nor who signs in: whoever sets the login email receives the password resets, so changing it, like the
    # password, would be taking the account.
    IDENTITY_FIELDS = ("email", "is_active")

    def get_inlines(self, request, obj):
        # The add page only sets the login; the profile is filled in on the change page that follows.
        return self.inlines if obj else ()

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        return tuple(
            (name, {**options, "fields": tuple(field for field in options["fields"] if field != "password")})
            for name, options in fieldsets
        )

    def get_readonly_fields(self, request, obj=None):
        # Read-only fields are left out of the submitted form too: a forged POST cannot change them either.
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        return (*readonly, *self.ACCESS_FIELDS, *(self.IDENTITY_FIELDS if obj is not None else ()))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            user_email_change_notify(user=obj, old_email=form.initial["email"])

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            if isinstance(inline_form.instance, UserProfile):
                vies_verdict_drop_if_changed(inline_form)
        super().save_formset(request, form, formset, change)

    def has_change_permission(self, request, obj=None):
        # A staff account is a superuser's to change: otherwise a change permission would be a way to more.
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password is taking their account: superusers only.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.display(description="Company", ordering="profile__company_name")
    def company_name(self, obj):
        profile = getattr(obj, "profile", None)
        return profile.company_name if profile else ""


@admin.register(UserProfile)
class UserProfileAdmin(FormChangesAuditMixin, admin.ModelAdmin):
    list_display = ("user", "full_name", "company_name", "city", "country", "vies_status", "billing_email", "language")
    list_select_related = ("user",)
    list_filter = ("country", "vies_status", "language", "einvoice_format")
    # Encrypted fields cannot be searched: each encryption of the same text differs.
    search_fields = ("user__email", "full_name", "company_name", "billing_email", "city")
    autocomplete_fields = ("user",)
    readonly_fields = (*VIES_CHECK_FIELDS, "created_at", "updated_at")
    formfield_overrides = ENCRYPTED_AS_ONE_LINE
    ordering = ("user__email",)

    def get_readonly_fields(self, request, obj=None):
        # A profile is a customer's billing identity: it never moves to another account.
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        vies_verdict_drop_if_changed(form)
        super().save_model(request, obj, form, change)


@admin.register(ApiKey)
class ApiKeyAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "=prefix", "user__email")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("revoke",)
    object_actions = (ObjectAction("revoke", "Revoke"),)

    def has_add_permission(self, request):
        # A key is created by a service, which shows its secret once; the admin never sees the secret.
        return False

    def has_change_permission(self, request, obj=None):
        # Staff other than superusers revoke keys (the action needs the change permission), never edit one:
        # scopes such as usage:write are not theirs to hand out.
        if obj is not None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_apikey")

    def object_action_applies(self, action, api_key):
        return api_key.revoked_at is None

    @admin.action(description="Revoke the selected keys…", permissions=["revoke"])
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True).select_related("user"))
        if not keys:
            self.message_user(request, "The selected keys are revoked already.", messages.WARNING)
            return None
        if "apply" in request.POST:
            run_for_each(self, request, keys, lambda key: api_key_revoke(api_key=key), done="Revoked")
            return back_to_object(self, request, keys)
        return action_page(
            self, request, keys, action="revoke", title="Revoke API keys", submit_label="Revoke",
            intro="A revoked key is refused at once by the API; this cannot be undone.",
        )


@admin.register(OAuthToken)
class OAuthTokenAdmin(FormChangesAuditMixin, admin.ModelAdmin):
    list_display = ("user", "provider", "scope", "expires_at", "created_at")
    list_select_related = ("user",)
    list_filter = ("provider",)
    search_fields = ("user__email", "provider")
    exclude = ("access_token", "refresh_token")
    readonly_fields = ("user", "provider", "has_access_token", "has_refresh_token", "created_at")
    date_hierarchy = "created_at"
    ordering = ("user__email", "provider")

    def has_add_permission(self, request):
        # Tokens come from the provider's OAuth flow, never typed in.
        return False

    @admin.display(boolean=True, description="Access token")
    def has_access_token(self, obj):
        return bool(obj.access_token)

    @admin.display(boolean=True, description="Refresh token")
    def has_refresh_token(self, obj):
        return bool(obj.refresh_token)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Consent decisions are evidence: a new decision is a new record, history is never rewritten."""

    list_display = ("user", "purpose", "granted", "created_at", "ip_address")
    list_select_related = ("user",)
    list_filter = ("purpose", "granted")
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_id", "ip_address")
    list_select_related = ("actor",)
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "action", "actor__email")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    # The trail only grows; counting it all on every page costs more than it tells.
    show_full_result_count = False
    readonly_fields = ("readable_changes",)

    def get_fields(self, request, obj=None):
        fields = [field for field in super().get_fields(request, obj) if field != "readable_changes"]
        return [*fields[: fields.index("changes") + 1], "readable_changes", *fields[fields.index("changes") + 1:]]

    @admin.display(description="Changes, old → new")
    def readable_changes(self, obj):
        return audit_changes(obj.changes)


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("last_id", "last_hash")
