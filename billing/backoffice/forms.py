"""Forms of the finance actions and pages in the admin; each feeds one service call per object."""
import datetime
import uuid
from decimal import Decimal

from django import forms
from django.conf import settings

from accounts.models import User
from billing import clock
from billing.models import Coupon, CreditNoteReason, CreditType, Interval, PaymentMethod, Plan
from billing.money import CENT
from billing.periods import add_months, start_of_day
from billing.services import CreditNoteRequest
from billing.subscriptions.coupons import coupon_code_normalize
from billing.subscriptions.plan_moves import plan_newer_versions
from billing.subscriptions.plans import plan_version_code

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MONEY = {"max_digits": 12, "decimal_places": 2}


class OneEffectForm(forms.Form):
    """The form of an action that moves money. The token drawn when the form is shown goes back with it, and the
    service keeps one effect per key (a unique column): submitting the same form twice acts once."""

    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def idempotency_key(self, effect: str, obj) -> str:
        """The key of this submission's `effect` on `obj` (an action may act on several objects)."""
        return f"admin-{effect}:{obj.pk}:{self.cleaned_data['token']}"


class RecordPaymentForm(OneEffectForm):
    """Money received for one invoice (a bank transfer, a cheque…), recorded as a completed payment."""

    amount = forms.DecimalField(**MONEY, min_value=CENT, help_text="An amount above what is due becomes a credit.")
    method = forms.ChoiceField(choices=PaymentMethod.choices, initial=PaymentMethod.BANK_TRANSFER)
    reference = forms.CharField(
        max_length=200, required=False, help_text="The bank statement line, cheque number or provider reference."
    )
    received_on = forms.DateField(widget=DATE_INPUT, label="Received on")

    def __init__(self, *args, invoice, **kwargs):
        self.invoice = invoice
        initial = {"amount": invoice.amount_due, "received_on": clock.today()}
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        if received_on > clock.today():
            raise forms.ValidationError("A payment cannot be received in the future.")
        if self.invoice.issue_date and received_on < self.invoice.issue_date:
            raise forms.ValidationError(f"The invoice was issued on {self.invoice.issue_date}.")
        return received_on

    @property
    def received_at(self) -> datetime.datetime:
        """Now when received today, else noon of that day in BILLING_TIME_ZONE."""
        received_on = self.cleaned_data["received_on"]
        if received_on == clock.today():
            return clock.now()
        return start_of_day(received_on) + datetime.timedelta(hours=12)


class RefundPaymentForm(OneEffectForm):
    """Money handed back of one payment: through Stripe for a card payment it collected, else recorded as
    given back by finance (a bank transfer back…)."""

    amount = forms.DecimalField(**MONEY, min_value=CENT, help_text="At most what is left to refund.")
    reason = forms.CharField(max_length=200, help_text="Why, for the audit log (kept, not sent to the customer).")
    credit_note_reason = forms.ChoiceField(
        label="Refund of the price", required=False, choices=[("", "No: the invoice is due again"),
                                                              *CreditNoteReason.choices],
        help_text="A refund of part of the price (a gesture, a service not delivered…) issues a partial credit note "
        "for it, with this reason, and the invoice stays paid.",
    )

    def __init__(self, *args, payment, left: Decimal, **kwargs):
        self.payment, self.left = payment, left
        kwargs.setdefault("initial", {"amount": left})
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount > self.left:
            raise forms.ValidationError(f"At most {self.left} {self.payment.currency} is left to refund.")
        return amount

    def clean_reason(self):
        return self.cleaned_data["reason"].strip()

    def credit_note_request(self) -> CreditNoteRequest | None:
        """The credit note a refund of the price asks for (its detail is the refund's reason), else None."""
        reason_code = self.cleaned_data["credit_note_reason"]
        if not reason_code:
            return None
        return CreditNoteRequest(reason_code=reason_code, reason=self.cleaned_data["reason"])


class CancelInvoiceForm(forms.Form):
    reason_code = forms.ChoiceField(
        label="Reason", choices=CreditNoteReason.choices,
        help_text="Printed on the credit note and sent to the customer, in the customer's language.",
    )
    reason = forms.CharField(
        label="Detail", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000, required=False,
        help_text="Printed as written after the reason; required when the reason is Other.",
    )

    def clean(self):
        cleaned = super().clean()
        cleaned["reason"] = cleaned.get("reason", "").strip()
        if cleaned.get("reason_code") == CreditNoteReason.OTHER and not cleaned["reason"]:
            self.add_error("reason", "Describe the reason when it is Other.")
        return cleaned


class PartialCreditNoteForm(OneEffectForm, CancelInvoiceForm):
    """Some lines of an issued invoice (an amount before VAT on each, all that is left of it by default) or an
    amount VAT included; the VAT follows at the invoice's rate. What was already paid goes back to the customer's
    credit balance, or to the card that paid it when Stripe collected it."""

    BALANCE, CARD = "BALANCE", "CARD"

    amount = forms.DecimalField(
        **MONEY, min_value=CENT, required=False, label="Or an amount",
        help_text="VAT included: what the customer gets back. Leave the lines blank to credit it.",
    )
    refund_to = forms.ChoiceField(
        label="What was paid goes", initial=BALANCE, widget=forms.RadioSelect,
        choices=[(BALANCE, "to the customer's credit balance"), (CARD, "back to the card that paid it (Stripe)")],
        help_text="On an invoice still due, the amount credited first lowers what is left to pay.",
    )

    def __init__(self, *args, lines, left_by_line: dict[int, Decimal], **kwargs):
        super().__init__(*args, **kwargs)
        self.line_fields = {}
        for line in lines:
            name = f"line_{line.pk}"
            left = left_by_line[line.pk]
            self.fields[name] = forms.DecimalField(
                **MONEY, min_value=CENT, max_value=left, required=False, label=line.description,
                help_text=f"Before VAT; at most {left} is left to credit on this line.",
            )
            self.line_fields[name] = line.pk
        # The lines first, then the amount, the reason and where the money goes.
        self.order_fields([*self.line_fields, "amount", "reason_code", "reason", "refund_to"])

    def clean(self):
        cleaned = super().clean()
        lines = {pk: cleaned[name] for name, pk in self.line_fields.items() if cleaned.get(name) is not None}
        if bool(lines) == (cleaned.get("amount") is not None):
            raise forms.ValidationError("Credit some lines or an amount (one or the other).")
        cleaned["lines"] = lines
        return cleaned

    def signature(self) -> str:
        """What the preview showed, so that only what was previewed is issued."""
        data = self.cleaned_data
        return f"{sorted(data['lines'].items())}|{data['amount']}"


class GrantCreditForm(OneEffectForm):
    type = forms.ChoiceField(
        choices=CreditType.choices, initial=CreditType.COMPENSATION,
        help_text="Promotional and compensation credits lower the price before VAT (a credit line on the invoice); "
        "refund and adjustment credits are money the customer paid, taken off the total after VAT.",
    )
    amount = forms.DecimalField(
        **MONEY, min_value=CENT,
        help_text=f"In {settings.INVOICE_CURRENCY}, VAT included: what the customer will pay less, whatever the type.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=1000)
    usable_until = forms.DateField(
        widget=DATE_INPUT, required=False, help_text="Last day the credit can be spent; empty: it never expires."
    )

    def clean_usable_until(self):
        usable_until = self.cleaned_data["usable_until"]
        if usable_until is not None and usable_until < clock.today():
            raise forms.ValidationError("That day has passed.")
        return usable_until

    @property
    def expires_at(self) -> datetime.datetime | None:
        usable_until = self.cleaned_data["usable_until"]
        return None if usable_until is None else start_of_day(usable_until + datetime.timedelta(days=1))


CHARGE_NEXT_INVOICE, CHARGE_INVOICE_NOW = "next", "now"


class OneOffChargeForm(OneEffectForm):
    """A one-off charge: on the customer's next period invoice, or on a numbered invoice of its own issued now."""

    description = forms.CharField(
        max_length=300, help_text="The invoice line, printed as written: write it in the customer's language."
    )
    amount = forms.DecimalField(**MONEY, min_value=CENT, help_text="Before tax: the invoice adds the customer's VAT.")
    billing = forms.ChoiceField(
        label="Invoiced", widget=forms.RadioSelect, initial=CHARGE_NEXT_INVOICE,
        choices=[
            (CHARGE_NEXT_INVOICE, "On the next period invoice"),
            (CHARGE_INVOICE_NOW, "Now, on an invoice of its own (numbered, PDF and email)"),
        ],
    )

    @property
    def invoice_now(self) -> bool:
        return self.cleaned_data["billing"] == CHARGE_INVOICE_NOW


class LiftSuspensionForm(forms.Form):
    """Why finance serves a customer's metered calls again although their late invoice stays unpaid."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=1000,
        help_text="Kept in the audit log, e.g. \"Transfer announced by the customer's accounts payable, 8 Dec\".",
    )


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(is_active=True).order_by("price", "code"))


class UsageTiersField(forms.Field):
    """A plan's tiers as finance types them: one a line, "<up to> <price per million>", the last one "* <price>"."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})
    default_help_text = (
        "Graduated and volume pricing only. One tier a line, counted on the tokens beyond the included ones: the "
        "number of tokens it goes up to, then its price per million (at most 4 decimals), e.g. “10000000 2.00”. "
        "The last line has no upper bound: “* 1.00”. Empty for per unit and package pricing."
    )

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", self.default_help_text)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{'*' if tier['up_to'] is None else tier['up_to']} {tier['price_per_million']}"
                             for tier in value)
        return value

    def to_python(self, value) -> list[dict]:
        tiers = []
        for number, line in enumerate((line for line in (value or "").splitlines() if line.strip()), start=1):
            words = line.split()
            if len(words) != 2:
                raise forms.ValidationError(f"Tier {number}: write the tokens it goes up to (or *), then its price.")
            up_to, price = words
            if up_to == "*":
                tiers.append({"up_to": None, "price_per_million": price})
            elif up_to.replace("_", "").isdigit():
                tiers.append({"up_to": int(up_to.replace("_", "")), "price_per_million": price})
            else:
                raise forms.ValidationError(f"Tier {number}: “{up_to}” is not a whole number of tokens, nor *.")
        return tiers


class PlanAdminForm(forms.ModelForm):
    """A plan's page: its tiers in a text box; `Plan.clean` checks the usage price model as a whole."""

    usage_tiers = UsageTiersField()

    class Meta:
        model = Plan
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets and read-only fields choose them)


class PlanVersionForm(forms.Form):
    code = forms.SlugField(max_length=50, help_text="The new plan's code; the current one stops being offered.")
    name = forms.CharField(max_length=100)
    price = forms.DecimalField(**MONEY, min_value=Decimal(0))
    interval = forms.ChoiceField(choices=Interval.choices)
    included_tokens = forms.IntegerField(min_value=0)
    overage_price_per_million = forms.DecimalField(max_digits=12, decimal_places=4, min_value=Decimal(0))
    requests_per_minute = forms.IntegerField(min_value=1)
    trial_days = forms.IntegerField(min_value=0, help_text="Days a new customer uses the plan free; 0: no trial.")

    def __init__(self, *args, plan, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "code": plan_version_code(plan, year=clock.today().year),
                **{field: getattr(plan, field) for field in self.declared_fields if field != "code"},
            },
        )
        super().__init__(*args, **kwargs)


class VersionMoveForm(forms.Form):
    """The newer version the subscribers of a plan move to: the newest one still offered comes first."""

    to_plan = forms.ModelChoiceField(
        queryset=Plan.objects.none(), label="Move to",
        help_text="A newer version of this plan, offered, with the same interval and currency.",
    )

    def __init__(self, *args, plan, **kwargs):
        super().__init__(*args, **kwargs)
        versions = plan_newer_versions(plan)
        self.fields["to_plan"].queryset = Plan.objects.filter(pk__in=[version.pk for version in versions])
        offered = [version for version in versions if version.is_active]
        if offered:
            self.fields["to_plan"].initial = offered[0].pk


def previous_month() -> tuple[datetime.date, datetime.date]:
    first = add_months(clock.today(), -1)
    return first, add_months(first, 1) - datetime.timedelta(days=1)


def current_quarter() -> tuple[datetime.date, datetime.date]:
    """The calendar quarter so far (an OSS return is quarterly): its first day and today."""
    today = clock.today()
    return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), today


class PeriodForm(forms.Form):
    """A period of days, both included."""

    first_day = forms.DateField(widget=DATE_INPUT)
    last_day = forms.DateField(widget=DATE_INPUT, help_text="Included.")

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first and last and last < first:
            raise forms.ValidationError("The last day comes before the first.")
        return cleaned


class ExportForm(PeriodForm):
    KINDS = (
        ("invoices", "Invoices (CSV)"),
        ("credit_notes", "Credit notes (CSV)"),
        ("payments", "Payments (CSV)"),
        ("fec", "FEC — Fichier des Écritures Comptables"),
    )

    kind = forms.ChoiceField(choices=KINDS, widget=forms.RadioSelect, initial="invoices")

    def __init__(self, *args, **kwargs):
        first, last = previous_month()
        kwargs.setdefault("initial", {"first_day": first, "last_day": last, "kind": "invoices"})
        super().__init__(*args, **kwargs)


class VatPeriodForm(PeriodForm):
    """The period of the dashboard's VAT by country: this quarter so far unless chosen."""

    def __init__(self, *args, **kwargs):
        first, last = current_quarter()
        kwargs.setdefault("initial", {"first_day": first, "last_day": last})
        super().__init__(*args, **kwargs)

    def period(self) -> tuple[datetime.date, datetime.date] | None:
        """The days chosen, the initial ones when none were, None when they are not valid."""
        if not self.is_bound:
            return self.initial["first_day"], self.initial["last_day"]
        return (self.cleaned_data["first_day"], self.cleaned_data["last_day"]) if self.is_valid() else None


class CouponAdminForm(forms.ModelForm):
    """A coupon as finance writes it: the code in any case, stored upper-case (customers enter it in any case)."""

    class Meta:
        model = Coupon
        fields = (
            "code", "name", "percent_off", "amount_off", "currency", "duration", "duration_months", "max_redemptions",
            "expires_at", "is_active",
        )

    def clean_code(self):
        return coupon_code_normalize(self.cleaned_data["code"])


class GrantCouponForm(forms.Form):
    """The customer finance gives a coupon to, by their email; applied to their live subscription."""

    customer = forms.ModelChoiceField(
        queryset=User.objects.filter(is_staff=False), to_field_name="email", widget=forms.EmailInput,
        help_text="The customer's email. The coupon discounts their next period invoices.",
        error_messages={"invalid_choice": "No customer has this email."},
    )

