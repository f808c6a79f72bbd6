"""Customer billing pages. Each view reads through a selector or writes through one service; a customer only
ever reaches their own objects: any other id answers 404."""
import copy
import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from stdnum import iban

from accounts.models import EinvoiceFormat
from accounts.selectors import saved_profile
from billing import clock
from billing.customer.charts import breakdown_svg, daily_usage_svg, forecast_svg, monthly_usage_svg
from billing.customer.forms import CancelForm, CouponForm, InvoiceFilterForm, PlanChoiceForm
from billing.customer.serializers import UsageQuerySerializer
from billing.documents.data import SEPA_CREDIT_TRANSFER, issued_payment_means
from billing.documents.services import record_ubl
from billing.exceptions import BillingError
from billing.models import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.notifications.alerts import alert_mark_read
from billing.payments.charging import CHARGEABLE_STATUSES, OPEN_PAYMENT_STATUSES
from billing.payments.providers import payment_provider
from billing.payments.providers.services import payment_method_save, payment_method_setup_start
from billing.periods import Period, local_date, period_name
from billing.selectors import (
    CREDIT_NOTES,
    access_suspended_by,
    credit_note_of,
    customer_alerts,
    customer_credit_balance,
    customer_credit_notes,
    customer_credits,
    customer_dashboard,
    customer_invoice_detail,
    customer_invoice_years,
    customer_invoices,
    customer_live_subscription,
    customer_payments,
    invoice_credit_notes,
    load_subscriptions,
    plans_offered,
    scheduled_plan_change,
    suspending_invoices,
    upcoming_priced,
    usage_breakdown,
    usage_forecast,
    usage_last_months,
    usage_periods,
    usage_summary,
)
from billing.services import (
    coupon_redeem,
    invoice_pay_now,
    invoice_pdf_store,
    subscription_cancel,
    subscription_change_plan,
    subscription_scheduled_change_cancel,
)
from billing.subscriptions.coupons import coupon_preview, running_coupon
from billing.subscriptions.lifecycle import subscription_change_preview
from core.spreadsheets import csv_attachment

PAGE_SIZE = 20


def _page(request, rows):
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


@never_cache
@login_required
def dashboard(request):
    now = clock.now()
    data = customer_dashboard(user=request.user, now=now)
    usage = data.usage
    chart = daily_usage_svg(
        [(day.date, day.tokens) for day in usage.daily],
        start=usage.period.start, end=usage.period.end, today=local_date(now),
    )
    months = usage_last_months(user=request.user, now=now)
    forecast = usage_forecast(usage=usage, now=now)
    context = {
        "data": data,
        # The unpaid invoice that has the docs API answer 402, and why: the banner with "Pay now".
        "suspension": access_suspended_by(user=request.user, today=local_date(now)),
        "usage": usage,
        "chart": mark_safe(chart),
        "months": months,
        "monthly_chart": mark_safe(monthly_usage_svg((month.month, month.tokens) for month in months)),
        "forecast": forecast,
        "forecast_chart": mark_safe(
            forecast_svg(
                tokens_used=forecast.tokens_used,
                projected_tokens=forecast.projected_tokens,
                included_tokens=forecast.included_tokens,
            )
        ),
    }
    return render(request, "billing/dashboard.html", context)


USAGE_GROUPINGS_SHOWN = {"day": _lazy("By day"), "api_key": _lazy("By API key"), "library": _lazy("By library")}
USAGE_CSV_HEADERS = {
    "day": ("date", "tokens", "calls"),
    "api_key": ("api_key_prefix", "api_key_name", "tokens", "calls"),
    "library": ("library_slug", "library_name", "tokens", "calls"),
}


def _usage_query(data) -> UsageQuerySerializer:
    """The period (a month `YYYY-MM`, the current period by default) and grouping asked, checked as the API checks
    them."""
    query = UsageQuerySerializer(data=data)
    query.is_valid()
    return query


def _usage_url(name: str, *, period: Period, group_by: str) -> str:
    return f"{reverse(name)}?{urlencode({'period': f'{period.start:%Y-%m}', 'group_by': group_by})}"


@never_cache
@login_required
def usage(request):
    """The usage of a billing period by day, API key or library: a chart, the figures, a CSV of them."""
    now = clock.now()
    query = _usage_query(request.GET)
    if query.errors:  # a hand-edited URL
        messages.warning(request, _("There is no such period or grouping: here is your current period by day."))
        query = _usage_query({})
    month, group_by = query.validated_data.get("period"), query.validated_data["group_by"]
    summary = usage_summary(user=request.user, now=now, month=month)
    breakdown = usage_breakdown(user=request.user, period=summary.period, group_by=group_by, now=now)
    periods = usage_periods(user=request.user, now=now)  # the current one first
    if group_by == "day":
        chart = daily_usage_svg(
            [(group.day, group.tokens) for group in breakdown.groups],
            start=summary.period.start, end=summary.period.end, today=local_date(now),
        )
    else:
        title = _("Tokens used per API key") if group_by == "api_key" else _("Tokens used per library")
        chart = breakdown_svg([(group.label, group.tokens) for group in breakdown.groups], title=title)
    context = {
        "summary": summary,
        "breakdown": breakdown,
        "is_current": summary.period == periods[0],
        "period_choices": [
            (f"{period.start:%Y-%m}", _usage_period_name(period, current=periods[0]), period == summary.period)
            for period in sorted({*periods, summary.period}, reverse=True)
        ],
        "tabs": [
            (label, _usage_url("billing:usage", period=summary.period, group_by=value), value == group_by)
            for value, label in USAGE_GROUPINGS_SHOWN.items()
        ],
        "chart": mark_safe(chart),
        "csv_url": _usage_url("billing:usage_export", period=summary.period, group_by=group_by),
    }
    return render(request, "billing/usage.html", context)


def _usage_period_name(period: Period, *, current: Period) -> str:
    name = period_name(period)
    return _("%(period)s (current)") % {"period": name} if period == current else name


@never_cache
@login_required
def usage_export(request):
    """The figures of the usage page as CSV: a header, then a row per day, API key or library."""
    query = _usage_query(request.GET)
    if query.errors:
        field, errors = next(iter(query.errors.items()))
        return HttpResponseBadRequest(f"{field}: {errors[0]}\n", content_type="text/plain; charset=utf-8")
    month, group_by = query.validated_data.get("period"), query.validated_data["group_by"]
    now = clock.now()
    period = usage_summary(user=request.user, now=now, month=month).period
    breakdown = usage_breakdown(user=request.user, period=period, group_by=group_by, now=now)
    rows = (
        (group.key, group.tokens, group.calls) if group_by == "day" else
        (group.key or "", group.label, group.tokens, group.calls)
        for group in breakdown.groups
    )
    return csv_attachment(
        [USAGE_CSV_HEADERS[group_by], *rows], filename=f"usage-{period.start:%Y-%m}-{group_by}.csv"
    )


@never_cache
@login_required
def invoice_list(request):
    invoices = customer_invoices(user=request.user)
    form = InvoiceFilterForm(request.GET or None, years=customer_invoice_years(user=request.user))
    page = _page(request, form.filter(invoices))
    return render(request, "billing/invoice_list.html", {"form": form, "page": page})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def invoice_detail(request, pk: int):
    """The invoice; a POST is "Pay now" (the card on file charged at once), answered by a redirect here."""
    invoice = get_object_or_404(customer_invoice_detail(user=request.user), pk=pk)
    if request.method == "POST":
        _pay_now(request, invoice)
        return redirect("billing:invoice_detail", pk=invoice.pk)
    context = {
        "invoice": invoice,
        "credit_notes": invoice_credit_notes(invoice),
        "bank_transfer": _bank_transfer(invoice),
        "pay_now": _pay_now_offer(request, invoice),
        "suspends_access": suspending_invoices(today=clock.today()).filter(pk=invoice.pk).exists(),
        "downloads": _downloads(invoice, saved_profile(request.user)),
    }
    return render(request, "billing/invoice_detail.html", context)


def _downloads(invoice, profile) -> list[dict[str, str]]:
    """The invoice's files, the customer's e-invoice format first: the PDF (its Factur-X inside), the UBL XML."""
    pdf = {"format": EinvoiceFormat.FACTURX, "label": _("Download the PDF"),
           "url": reverse("billing:invoice_pdf", args=[invoice.pk])}
    ubl = {"format": EinvoiceFormat.UBL, "label": _("Download the UBL XML"),
           "url": reverse("billing:invoice_ubl", args=[invoice.pk])}
    prefers_ubl = profile is not None and profile.einvoice_format == EinvoiceFormat.UBL
    return [ubl, pdf] if prefers_ubl else [pdf, ubl]


def _pay_now(request, invoice) -> None:
    """Charge the card on file and tell the outcome: paid, refused with Stripe's reason, or still at the bank."""
    try:
        payment = invoice_pay_now(invoice=invoice, user=request.user, now=clock.now())
    except BillingError as error:  # nothing owed, a charge in progress, no card, Stripe out of reach
        messages.error(request, str(error))
        return
    if payment.status == PaymentStatus.COMPLETED:
        messages.success(request, _("Thank you: invoice %(number)s is paid.") % {"number": invoice.number})
    elif payment.status == PaymentStatus.FAILED:
        messages.error(request, _("Your card was refused: %(reason)s") % {"reason": _(payment.failure_reason)})
    else:
        messages.info(request, _("Your payment is being processed: its outcome shows here once the bank answers."))


def _pay_now_offer(request, invoice) -> dict | None:
    """What the page offers to pay an open invoice by card when Stripe collects the payments: the card on file
    with a button, or a link to add one that comes back here; None otherwise (bank transfer only)."""
    provider = payment_provider()
    if not provider.collects_cards or invoice.status not in CHARGEABLE_STATUSES or invoice.amount_due <= 0:
        return None
    in_progress = invoice.payments.filter(method=PaymentMethod.CARD, status__in=OPEN_PAYMENT_STATUSES).exists()
    add_card_url = f"{reverse('billing:payment_method')}?{urlencode({'next': request.get_full_path()})}"
    return {
        "card": provider.default_payment_method(user=request.user), "in_progress": in_progress,
        "add_card_url": add_card_url,
    }


def _bank_transfer(invoice) -> dict[str, str] | None:
    """Where an open invoice is paid by bank transfer: the seller's account as the invoice printed it at issue;
    None for an invoice issued to be charged to a card, as its document says."""
    seller = invoice.issue_details.get("seller") or {}
    account = iban.compact(seller.get("iban", ""))
    if invoice.status not in (InvoiceStatus.SENT, InvoiceStatus.OVERDUE) or invoice.amount_due <= 0 or not account:
        return None
    if issued_payment_means(invoice) != SEPA_CREDIT_TRANSFER:
        return None
    return {"iban": iban.format(account), "bic": seller.get("bic", "").replace(" ", "").upper()}


@never_cache
@login_required
def invoice_pdf(request, pk: int):
    """The stored PDF, rendered once on the first download when the invoice run has not stored it yet."""
    invoice = get_object_or_404(customer_invoices(user=request.user), pk=pk)
    invoice = invoice_pdf_store(invoice=invoice)
    return FileResponse(
        invoice.pdf.open("rb"), as_attachment=True, filename=f"{invoice.number}.pdf", content_type="application/pdf"
    )


def _credit_note_pdf_response(credit_note) -> FileResponse:
    if credit_note is None or not credit_note.pdf:
        raise Http404("This credit note has no document yet.")
    return FileResponse(
        credit_note.pdf.open("rb"), as_attachment=True, filename=f"{credit_note.number}.pdf",
        content_type="application/pdf",
    )


@never_cache
@login_required
def credit_note_pdf(request, pk: int):
    """The PDF of the credit note that cancelled invoice `pk`."""
    invoice = get_object_or_404(customer_invoices(user=request.user).prefetch_related(CREDIT_NOTES), pk=pk)
    return _credit_note_pdf_response(credit_note_of(invoice))


@never_cache
@login_required
def credit_note_file(request, pk: int):
    """The PDF of credit note `pk`, full or partial, of one of the customer's invoices."""
    credit_note = get_object_or_404(customer_credit_notes(user=request.user), pk=pk)
    return _credit_note_pdf_response(credit_note)


def xml_download(xml: bytes, *, number: str) -> FileResponse:
    """An e-invoice XML as the `<number>.xml` file download."""
    return FileResponse(io.BytesIO(xml), as_attachment=True, filename=f"{number}.xml", content_type="application/xml")


@never_cache
@login_required
def invoice_ubl(request, pk: int):
    """The issued invoice as UBL 2.1 (Peppol BIS Billing 3.0), built from its issue snapshot."""
    invoice = get_object_or_404(customer_invoices(user=request.user), pk=pk)
    return xml_download(record_ubl(invoice), number=invoice.number)


@never_cache
@login_required
def credit_note_ubl(request, pk: int):
    """The credit note that cancelled invoice `pk`, as UBL 2.1."""
    invoice = get_object_or_404(customer_invoices(user=request.user).prefetch_related(CREDIT_NOTES), pk=pk)
    credit_note = credit_note_of(invoice)
    if credit_note is None:
        raise Http404("This invoice has no credit note.")
    return xml_download(record_ubl(credit_note), number=credit_note.number)


@never_cache
@login_required
def credit_note_file_ubl(request, pk: int):
    """Credit note `pk`, full or partial, of one of the customer's invoices, as UBL 2.1."""
    credit_note = get_object_or_404(customer_credit_notes(user=request.user).select_related("invoice"), pk=pk)
    return xml_download(record_ubl(credit_note), number=credit_note.number)


@never_cache
@login_required
def payments(request):
    return render(request, "billing/payments.html", {"page": _page(request, customer_payments(user=request.user))})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def payment_method(request):
    """How the customer pays: the seller's bank account (`manual`), or the card on file and a form to save or
    replace it (`stripe`: Stripe.js confirms a SetupIntent, then posts its id back here)."""
    provider = payment_provider()
    if request.method == "POST":
        try:
            payment_method_save(user=request.user, setup_intent_id=request.POST.get("setup_intent", ""))
        except BillingError as error:
            messages.error(request, str(error))
        else:
            card = provider.default_payment_method(user=request.user)
            messages.success(
                request,
                _("Your card is saved: %(brand)s ending %(last4)s.") % {"brand": card.brand_name, "last4": card.last4},
            )
            back = _safe_next(request)
            if back:
                return redirect(back)  # the invoice whose "Pay now" sent the customer here
        return redirect(request.get_full_path())
    context = {"provider": provider, "card": provider.default_payment_method(user=request.user)}
    if not provider.collects_cards:
        context["bank_transfer"] = provider.bank_transfer()
        return render(request, "billing/payment_method.html", context)
    try:
        context["setup"] = payment_method_setup_start(user=request.user)
    except BillingError as error:
        messages.error(request, str(error))  # the card on file is still shown; the form waits for Stripe
    context |= {"publishable_key": provider.publishable_key, "stripe_js_url": provider.js_url}
    response = render(request, "billing/payment_method.html", context)
    response._csp_update = provider.page_content_security_policy()  # django-csp: this page only loads Stripe.js
    return response


def _safe_next(request) -> str | None:
    """`next` when it is a URL of this site (never another host: an open redirect would serve phishing)."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@never_cache
@login_required
def credits(request):
    page = _page(request, customer_credits(user=request.user))
    balance = customer_credit_balance(user=request.user, now=clock.now())
    # With no credit the balance is zero in the currency credits are granted in.
    context = {"page": page, "balance": balance, "now": clock.now(), "currency": settings.INVOICE_CURRENCY}
    return render(request, "billing/credits.html", context)


@never_cache
@login_required
def alerts(request):
    return render(request, "billing/alerts.html", {"page": _page(request, customer_alerts(user=request.user))})


@login_required
@require_POST
def alert_read(request, pk: int):
    alert = get_object_or_404(customer_alerts(user=request.user), pk=pk)
    alert_mark_read(alert=alert)
    return redirect("billing:alerts")


def _live_subscription_or_redirect(request):
    subscription = customer_live_subscription(user=request.user)
    if subscription is None:
        messages.info(request, _("You have no active subscription."))
    return subscription


@never_cache
@login_required
def plan_change(request):
    """Step 1: choose a plan. Only plans billed like the current one can replace it within a period."""
    subscription = _live_subscription_or_redirect(request)
    if subscription is None:
        return redirect("billing:dashboard")
    plans = plans_offered()
    form = PlanChoiceForm(
        plans=plans.exclude(pk=subscription.plan_id).filter(
            interval=subscription.plan.interval, currency=subscription.plan.currency
        )
    )
    context = {
        "subscription": subscription, "plans": plans, "form": form,
        "coupon": running_coupon(subscription), "coupon_form": CouponForm(),
    }
    return render(request, "billing/plan_change.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def plan_change_confirm(request):
    """Step 2: the proration of this period's fee, shown before anything changes (GET); applied on POST."""
    subscription = _live_subscription_or_redirect(request)
    if subscription is None:
        return redirect("billing:dashboard")
    form = PlanChoiceForm(request.POST if request.method == "POST" else request.GET, plans=plans_offered())
    if not form.is_valid():
        messages.error(request, _("Choose one of the plans offered."))
        return redirect("billing:plan_change")
    plan = form.cleaned_data["plan"]
    try:
        if request.method == "POST":
            subscription = subscription_change_plan(subscription=subscription, plan=plan)
            scheduled = scheduled_plan_change(subscription)
            if scheduled is None:
                messages.success(request, _("You are now on the %(plan)s plan.") % {"plan": plan.name})
            else:
                messages.success(
                    request,
                    _("You move to the %(new_plan)s plan on %(date)s; until then you stay on %(plan)s.") % {
                        "new_plan": plan.name,
                        "date": date_format(scheduled.effective_date, _("j M Y")),
                        "plan": subscription.plan.name,
                    },
                )
            return redirect("billing:dashboard")
        preview = subscription_change_preview(subscription=subscription, plan=plan)
    except BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:plan_change")
    return render(request, "billing/plan_change_confirm.html", {"preview": preview, "subscription": subscription})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def coupon(request):
    """The plan page's coupon code: what it takes off the plan and this period's invoice, shown before anything
    changes (GET); redeemed on POST. A code that cannot be redeemed goes back to the plan page, saying why."""
    subscription = _live_subscription_or_redirect(request)
    if subscription is None:
        return redirect("billing:dashboard")
    form = CouponForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, form.errors["code"][0])
        return redirect("billing:plan_change")
    try:
        if request.method == "POST":
            redemption = coupon_redeem(user=request.user, code=form.cleaned_data["code"])
            messages.success(
                request, _("The coupon %(code)s is applied to your next invoices.") % {"code": redemption.coupon.code}
            )
            return redirect("billing:dashboard")
        preview = coupon_preview(user=request.user, code=form.cleaned_data["code"])
    except BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:plan_change")
    return render(request, "billing/coupon_confirm.html", {"preview": preview, "subscription": subscription})


@login_required
@require_POST
def scheduled_change_cancel(request):
    """The dashboard's button: the plan change scheduled for the period's end is dropped."""
    subscription = _live_subscription_or_redirect(request)
    if subscription is None:
        return redirect("billing:dashboard")
    try:
        subscription = subscription_scheduled_change_cancel(subscription=subscription)
    except BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("The plan change is cancelled: you stay on %(plan)s.") % {"plan": subscription.plan.name}
        )
    return redirect("billing:dashboard")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def cancel(request):
    """What cancelling means, with a choice of when (GET); applied on POST."""
    subscription = _live_subscription_or_redirect(request)
    if subscription is None:
        return redirect("billing:dashboard")
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription_cancel(subscription=subscription, at_period_end=form.at_period_end)
        except BillingError as error:
            messages.error(request, str(error))
            return redirect("billing:cancel")
        if form.at_period_end:
            messages.success(request, _("Your subscription will end with the current period."))
        else:
            messages.success(request, _("Your subscription is cancelled. This period's invoice will follow."))
        return redirect("billing:dashboard")
    status = 400 if form.errors else 200
    context = {"subscription": subscription, "form": form, "final": _final_invoices(subscription, now=clock.now())}
    return render(request, "billing/cancel.html", context, status=status)


def _final_invoices(subscription, *, now) -> dict:
    """The last invoice of each choice, priced like the upcoming invoice with the usage so far: this whole
    period's fee when the subscription ends with the period, the fee up to today when it ends now."""
    [current] = load_subscriptions([subscription.pk])
    ending_now = copy.copy(current)
    ending_now.ended_at = now
    return {"period_end": upcoming_priced(current, now=now), "now": upcoming_priced(ending_now, now=now)}

