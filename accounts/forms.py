"""Forms of the customer pages: they validate input; the views hand the cleaned data to one service."""
import unicodedata
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fr import siren as fr_siren
from stdnum.util import clean, get_cc_module

from .countries import COUNTRIES, country_name
from .models import API_KEY_SCOPES, CUSTOMER_API_KEY_SCOPES, ConsentPurpose, User, UserProfile

# VAT numbers carry the country's VAT prefix, which differs from ISO 3166 for Greece.
VAT_PREFIX_OF_COUNTRY = {"GR": "EL"}
COUNTRY_OF_VAT_PREFIX = {prefix: country for country, prefix in VAT_PREFIX_OF_COUNTRY.items()}
# The consents a customer may give or withdraw here; the terms of service may only be accepted (at sign-up, or
# here by a customer who never did): withdrawing them is erasing the account.
TOGGLEABLE_CONSENTS = (ConsentPurpose.MARKETING_EMAIL, ConsentPurpose.USAGE_ANALYTICS)


def _is_eu_member(country: str) -> bool:
    # stdnum also lists XI (Northern Ireland), which is not an ISO 3166 country: GB customers stay outside.
    return country.lower() in eu_vat.MEMBER_STATES


def normalize_vat_number(vat_number: str, country: str) -> str:
    """The VAT number in its compact form, checked offline (python-stdnum) against `country`.

    An EU number must be valid and issued by `country` (its prefix may be left out); elsewhere the
    number is checked when python-stdnum knows the country's format. Raises forms.ValidationError.
    """
    name = country_name(country)
    if _is_eu_member(country):
        compact = clean(vat_number, " -./,").upper().strip()
        if compact[:1].isdigit():
            compact = VAT_PREFIX_OF_COUNTRY.get(country, country) + compact
        prefix = compact[:2]
        if COUNTRY_OF_VAT_PREFIX.get(prefix, prefix) != country:
            raise forms.ValidationError(
                _("This VAT number was not issued in %(country)s: it should start with %(prefix)s."),
                code="vat_country",
                params={"country": name, "prefix": VAT_PREFIX_OF_COUNTRY.get(country, country)},
            )
        if not eu_vat.is_valid(compact):
            raise forms.ValidationError(
                _("This is not a valid VAT number for %(country)s: check the digits."),
                code="vat_invalid",
                params={"country": name},
            )
        return compact
    module = get_cc_module(country.lower(), "vat")
    if module is None:
        return " ".join(vat_number.split())
    try:
        return module.validate(vat_number)
    except StdnumValidationError:
        raise forms.ValidationError(
            _("This is not a valid VAT number for %(country)s: check the digits."),
            code="vat_invalid",
            params={"country": name},
        ) from None


def _countries_by_name() -> list[tuple[str, str]]:
    """(code, name) of every country in the active language, in the alphabetical order of that language's names
    (accents aside: Åland with the A's, Égypte with the E's)."""
    named = [(code, country_name(code)) for code, _name in COUNTRIES]
    return sorted(named, key=lambda pair: unicodedata.normalize("NFKD", pair[1]).encode("ascii", "ignore"))


class PageForm(forms.Form):
    """Labels without a trailing colon; required fields marked by a class the stylesheet shows."""

    required_css_class = "required"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, asking for the email address the account logs in with."""

    required_css_class = "required"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    username = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class SignupConfirmForm(PageForm):
    """The password chosen on signing up: with the link, it proves the same person signed up and confirms."""

    password = forms.CharField(
        label=_("The password you chose"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"}),
    )


class SignupForm(PageForm):
    """A new account: the login email, a password Django's validators accept, the terms (required) and the
    optional consents the privacy page also records, unticked."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
        help_text=_("You log in with it; we send a link to it to confirm it is yours."),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html,
    )
    terms = forms.BooleanField(
        label=_("I accept the terms of service"),
        error_messages={"required": _("Accept the terms of service to create an account.")},
    )
    marketing_email = forms.BooleanField(label=_("Send me news about TwinMCP (marketing emails)"), required=False)
    usage_analytics = forms.BooleanField(
        label=_("Help improve TwinMCP with anonymous usage analytics"), required=False
    )

    # Form field → the consent it grants when ticked.
    CONSENTS = {
        "terms": ConsentPurpose.TERMS,
        "marketing_email": ConsentPurpose.MARKETING_EMAIL,
        "usage_analytics": ConsentPurpose.USAGE_ANALYTICS,
    }

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            # Checked against an unsaved user with this email, so that a password close to it is refused.
            try:
                password_validation.validate_password(password, user=User(email=cleaned.get("email") or ""))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned

    def consents_granted(self) -> list[str]:
        return [purpose.value for name, purpose in self.CONSENTS.items() if self.cleaned_data.get(name)]


class ProfileForm(forms.ModelForm):
    """The billing identity printed on invoices. The VAT number is checked against the chosen country."""

    required_css_class = "required"

    country = forms.ChoiceField(
        label=_("Country"),
        choices=lambda: [("", _("Choose a country")), *_countries_by_name()],
        required=False,
        help_text=_("Sets the VAT on your invoices; when empty, France is assumed."),
    )
    monthly_spend_cap = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        help_text=_(
            "Calls beyond your quota stop once this much overage is reached in a period. Leave empty for no cap."
        ),
    )

    class Meta:
        model = UserProfile
        fields = (
            "full_name", "company_name", "billing_email", "phone", "address_line1", "address_line2", "postal_code",
            "city", "country", "vat_number", "siren", "language", "einvoice_format", "monthly_spend_cap",
        )
        labels = {
            "full_name": _("Full name"),
            "company_name": _("Company"),
            "billing_email": _("Invoice email"),
            "phone": _("Phone"),
            "address_line1": _("Address"),
            "address_line2": _("Address (line 2)"),
            "postal_code": _("Postal code"),
            "city": _("City"),
            "vat_number": _("VAT number"),
            "siren": _("SIREN"),
            "language": _("Language"),
            "einvoice_format": _("E-invoice format"),
        }
        help_texts = {
            "billing_email": _("Invoices go here; when empty, to your login email."),
            "vat_number": _(
                "EU businesses outside France with a valid VAT number are invoiced without VAT (reverse charge)."
            ),
            "siren": _("French companies only: nine digits."),
            "language": _("Of these pages, your invoices and your emails."),
            "einvoice_format": _(
                "The XML your accounting software reads. Every invoice PDF carries its Factur-X; with UBL, invoice "
                "and credit-note emails attach the UBL file as well."
            ),
        }
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "company_name": forms.TextInput(attrs={"autocomplete": "organization"}),
            "billing_email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "vat_number": forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            "siren": forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["country"].widget.attrs["autocomplete"] = "country"
        self.fields["einvoice_format"].required = False
        # The cap is compared with the overage, which is billed in the invoice currency.
        self.fields["monthly_spend_cap"].label = _("Monthly overage cap (%(currency)s)") % {
            "currency": settings.INVOICE_CURRENCY
        }

    FIELDSETS = (
        (_("Who you are"), ("full_name", "company_name", "billing_email", "phone")),
        (_("Address"), ("address_line1", "address_line2", "postal_code", "city", "country")),
        (_("Tax and invoices"), ("vat_number", "siren", "language", "einvoice_format", "monthly_spend_cap")),
    )

    def fieldsets(self):
        """(legend, bound fields) per group of the page."""
        return [(legend, [self[name] for name in names]) for legend, names in self.FIELDSETS]

    def clean_einvoice_format(self):
        # A post without the field (an older form, a script) keeps the profile's format.
        return self.cleaned_data["einvoice_format"] or self.instance.einvoice_format

    def clean_siren(self):
        siren = fr_siren.compact(self.cleaned_data["siren"])
        if siren and not fr_siren.is_valid(siren):
            raise forms.ValidationError(_("This is not a valid SIREN: check the nine digits."), code="siren_invalid")
        return siren

    def clean(self):
        cleaned = super().clean()
        vat_number = (cleaned.get("vat_number") or "").strip()
        if not vat_number or "country" not in cleaned:
            return cleaned
        country = cleaned["country"]
        if not country:
            self.add_error("country", _("Choose the country that issued your VAT number."))
            return cleaned
        try:
            cleaned["vat_number"] = normalize_vat_number(vat_number, country)
        except forms.ValidationError as error:
            self.add_error("vat_number", error)
        return cleaned


class ApiKeyCreateForm(PageForm):
    name = forms.CharField(
        max_length=100,
        label=_("Name"),
        help_text=_("To recognise the key later, e.g. “Laptop” or “CI pipeline”."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        label=_("What the key may do"),
        choices=[(scope, _(API_KEY_SCOPES[scope])) for scope in CUSTOMER_API_KEY_SCOPES],
        initial=["docs:read"],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one scope.")},
        help_text=_("Give a key only what it needs: a leaked key can do no more than its scopes allow."),
    )


class ConsentForm(PageForm):
    purpose = forms.ChoiceField(choices=ConsentPurpose.choices)
    granted = forms.TypedChoiceField(
        choices=[("1", _("Give")), ("0", _("Withdraw"))], coerce=lambda value: value == "1"
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("purpose") not in TOGGLEABLE_CONSENTS and cleaned.get("granted") is False:
            raise forms.ValidationError(
                _("The terms of service cannot be withdrawn: to stop using TwinMCP, erase your account."),
                code="terms_withdrawn",
            )
        return cleaned


class AccountEraseForm(PageForm):
    """Erasure cannot be undone: the customer confirms with their password and a tick."""

    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account is erased for good and that I will be logged out.")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your password."), code="password_incorrect")
        return password
