"""The customer's billing API (`/api/billing/`): thin views over the billing selectors and services.

Every endpoint answers for `request.user` only: another customer's id answers 404, like an unknown
one. Reads are cached per customer (billing.cache): invoice lists and the invoice and payment reads
beside them for 15 minutes, the rest of the customer's data for 5; a billing change of the customer
invalidates them. Plans also require a key, like every endpoint of the API. A key reads with the
`billing:read` scope and changes anything with `billing:write` (see accounts.permissions).
"""
import json

from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import Count, Window
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.parsers import JSONParser
from accounts.serializers import ErrorSerializer, error_responses
from billing import clock
from billing.cache import INVOICE_LIST_TIMEOUT, USER_DATA_TIMEOUT, customer_cached
from billing.customer.filters import (
    AlertFilter,
    CreditFilter,
    InvoiceFilter,
    PaymentFilter,
    PlanFilter,
    filter_parameters,
)
from billing.customer.serializers import (
    INVOICE_LIST_COLUMNS,
    AlertSerializer,
    CouponCodeSerializer,
    CouponRedemptionSerializer,
    CreditSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    PaymentSerializer,
    PlanChangePreviewSerializer,
    PlanChangeSerializer,
    PlanChoiceSerializer,
    PlanSerializer,
    SubscriptionCancelInputSerializer,
    SubscriptionSerializer,
    UpcomingInvoiceSerializer,
    UsageQuerySerializer,
    UsageSerializer,
    invoice_list_rows,
)
from billing.customer.views import xml_download
from billing.documents.services import record_ubl
from billing.models import BillingAlert, Credit, Invoice, Payment, PaymentStatus
from billing.selectors import (
    customer_alerts,
    customer_credits,
    customer_invoice_detail,
    customer_invoices,
    customer_live_subscription,
    customer_payments,
    invoice_upcoming,
    plans_offered,
    usage_breakdown,
    usage_summary,
)
from billing.services import (
    alert_mark_read,
    coupon_redeem,
    invoice_pay_now,
    invoice_pdf_store,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_cancel,
)
from billing.subscriptions.coupons import CouponRefused
from billing.subscriptions.lifecycle import subscription_change_preview

TAG = "billing"
READ = {"GET": "billing:read"}
WRITE = {"POST": "billing:write"}


class RenderedJSON(bytes):
    """An answer's data as `JSONRenderer` wrote it when it was cached."""


class CachedJSONRenderer(JSONRenderer):
    """Sends a cached answer's JSON as it was written: no decoding and encoding again on every call."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, RenderedJSON):
            if self.get_indent(accepted_media_type, renderer_context or {}) is None:
                return bytes(data)
            data = json.loads(data)  # asked for `application/json; indent=4`
        return super().render(data, accepted_media_type, renderer_context)


class CustomerCache:
    """Caches a view's answer for the customer, keyed by the full URL (path, filters, page), as its JSON."""

    renderer_classes = [CachedJSONRenderer, BrowsableAPIRenderer]
    cache_name: str
    cache_timeout: int

    def cached(self, compute, *, key: str | None = None) -> Response:
        """The answer whose data `compute()` returns, from the customer's cache when it holds it under `key` (by
        default the full URL)."""
        request = self.request
        body = customer_cached(
            user_id=request.user.pk, name=self.cache_name, key=key or request.build_absolute_uri(),
            timeout=self.cache_timeout, compute=lambda: JSONRenderer().render(compute()),
        )
        if isinstance(request.accepted_renderer, CachedJSONRenderer):
            return Response(RenderedJSON(body))
        return Response(json.loads(body))


class CustomerListApi(CustomerCache, generics.ListAPIView):
    """A paginated, filtered list of the customer's own rows, cached per customer."""

    model = None
    required_scopes = READ

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a customer
            return self.model.objects.none()
        return self.customer_queryset(user=self.request.user)

    def customer_queryset(self, *, user):
        raise NotImplementedError

    def filter_queryset(self, queryset):
        # The filters' form takes longer to build and validate than the page's queries: a query naming none of its
        # parameters is filtered by none.
        if filter_parameters(self.filterset_class).isdisjoint(self.request.query_params):
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        return self.cached(lambda: super(CustomerListApi, self).list(request, *args, **kwargs).data)


def live_subscription_or_404(user):
    subscription = customer_live_subscription(user=user)
    if subscription is None:
        raise NotFound("You have no live subscription.")
    return subscription


# Invoices

PAGE_COUNT = "page_count_of_all"


class OneQueryPaginator(DjangoPaginator):
    """Django's paginator over `.values()` rows, reading a page and the count of all rows in one statement
    (`COUNT(*) OVER ()` beside each row) instead of a COUNT then the page. When no row comes back (a page past the
    end, an empty list) or the page is not a number, Django's own count and checks answer."""

    def page(self, number):
        try:
            bottom = (int(number) - 1) * self.per_page
        except (TypeError, ValueError):
            return super().page(number)
        if bottom < 0 or "count" in self.__dict__:
            return super().page(number)
        window = self.object_list.annotate(**{PAGE_COUNT: Window(Count("pk"))})
        rows = list(window[bottom : bottom + self.per_page + self.orphans])
        if not rows:
            return super().page(number)
        self.count = rows[0][PAGE_COUNT]  # Django's cached count, read with the page
        for row in rows:
            del row[PAGE_COUNT]
        number = self.validate_number(number)
        top = self.count if bottom + self.per_page + self.orphans >= self.count else bottom + self.per_page
        return self._get_page(rows[: top - bottom], number, self)


class OneQueryPagination(PageNumberPagination):
    django_paginator_class = OneQueryPaginator


@extend_schema(tags=[TAG], summary="Your invoices", responses={200: InvoiceSerializer(many=True),
                                                             **error_responses(400, 401, 403, 404)})
class InvoiceListApi(CustomerListApi):
    """Issued invoices, newest period first (drafts are not issued yet). Cached 15 minutes."""

    model = Invoice
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    pagination_class = OneQueryPagination
    cache_name, cache_timeout = "invoices", INVOICE_LIST_TIMEOUT

    def customer_queryset(self, *, user):
        return customer_invoices(user=user)

    def list(self, request, *args, **kwargs):
        def page() -> dict:
            rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values(*INVOICE_LIST_COLUMNS))
            return self.get_paginated_response(invoice_list_rows(rows, request=request)).data

        return self.cached(page)


@extend_schema(tags=[TAG], summary="One of your invoices",
               responses={200: InvoiceDetailSerializer, **error_responses(401, 403, 404)})
class InvoiceDetailApi(CustomerCache, generics.RetrieveAPIView):
    """An invoice with its lines, payments and credit note."""

    serializer_class = InvoiceDetailSerializer
    required_scopes = READ
    cache_name, cache_timeout = "invoice", INVOICE_LIST_TIMEOUT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return customer_invoice_detail(user=self.request.user)

    def retrieve(self, request, *args, **kwargs):
        return self.cached(lambda: super(InvoiceDetailApi, self).retrieve(request, *args, **kwargs).data)


@extend_schema(
    tags=[TAG], summary="Pay an invoice now with your card", request=None,
    description="Charges the amount due to the card on file at once (when payments are collected by card), as "
    "the invoice page's \"Pay now\" does. 200 with the invoice when it is paid; 202 with the invoice when the "
    "bank has not answered yet (the invoice's payments show the outcome later); 402 `card_declined` when the card "
    "is refused, with the reason; 409 when nothing is owed or a card payment is already in progress; 400 without "
    "a card on file.",
    responses={
        200: InvoiceDetailSerializer,
        202: InvoiceDetailSerializer,
        402: OpenApiResponse(ErrorSerializer, description="card_declined: the card was refused; the message says "
                             "why. The invoice is still due."),
        **error_responses(400, 401, 403, 404, 409),
    },
)
class InvoicePayApi(APIView):
    required_scopes = WRITE
    parser_classes = [JSONParser]

    def post(self, request, pk: int):
        invoice = get_object_or_404(customer_invoices(user=request.user), pk=pk)
        payment = invoice_pay_now(invoice=invoice, user=request.user, now=clock.now())
        if payment.status == PaymentStatus.FAILED:
            error = {"code": "card_declined", "message": _(payment.failure_reason), "fields": {}}
            return Response({"error": error}, status=status.HTTP_402_PAYMENT_REQUIRED)
        invoice = get_object_or_404(customer_invoice_detail(user=request.user), pk=pk)
        answer = status.HTTP_200_OK if payment.status == PaymentStatus.COMPLETED else status.HTTP_202_ACCEPTED
        return Response(InvoiceDetailSerializer(invoice).data, status=answer)


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """A file (the PDF, the UBL XML) answers whatever the Accept header says; an error is the usual JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class InvoiceFileApi(APIView):
    """A file of one of the customer's issued invoices (`download`), whatever the client asks to accept."""

    required_scopes = READ
    content_negotiation_class = IgnoreClientContentNegotiation

    def get(self, request, pk: int):
        return self.download(get_object_or_404(customer_invoices(user=request.user), pk=pk))

    def download(self, invoice):
        raise NotImplementedError


@extend_schema(
    tags=[TAG], summary="The PDF of one of your invoices",
    responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The stored PDF/A-3 "
                                                         "with its Factur-X XML, the same at every download."),
               **error_responses(401, 403, 404)},
)
class InvoicePdfApi(InvoiceFileApi):
    def download(self, invoice):
        if not invoice.pdf:  # issued, but its document is still on its way: render and store it now, once
            invoice = invoice_pdf_store(invoice=invoice)
        return FileResponse(
            invoice.pdf.open("rb"), content_type="application/pdf", as_attachment=True,
            filename=f"{invoice.number}.pdf",
        )


@extend_schema(
    tags=[TAG], summary="The UBL 2.1 XML of one of your invoices",
    responses={(200, "application/xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice as UBL 2.1 "
                                                         "(French CTC, Peppol BIS Billing 3.0 or EN 16931, by buyer), "
                                                         "the same at every download."),
               **error_responses(401, 403, 404)},
)
class InvoiceUblApi(InvoiceFileApi):
    def download(self, invoice):
        return xml_download(record_ubl(invoice), number=invoice.number)


@extend_schema(tags=[TAG], summary="The invoice of the current period so far",
               responses={200: UpcomingInvoiceSerializer, **error_responses(401, 403, 404)})
class InvoiceUpcomingApi(CustomerCache, APIView):
    """What the current period would be invoiced if it ended now (usage so far); 404 without a subscription.
    Cached 5 minutes."""

    required_scopes = READ
    cache_name, cache_timeout = "upcoming", USER_DATA_TIMEOUT

    def get(self, request):
        def compute():
            upcoming = invoice_upcoming(subscription=live_subscription_or_404(request.user), now=clock.now())
            if upcoming is None:
                raise NotFound("You have no live subscription.")
            return UpcomingInvoiceSerializer(upcoming).data

        return self.cached(compute)


# Payments


@extend_schema(tags=[TAG], summary="Your payments", responses={200: PaymentSerializer(many=True),
                                                             **error_responses(400, 401, 403, 404)})
class PaymentListApi(CustomerListApi):
    """Payments of your invoices, newest first. Cached 15 minutes."""

    model = Payment
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    cache_name, cache_timeout = "payments", INVOICE_LIST_TIMEOUT

    def customer_queryset(self, *, user):
        return customer_payments(user=user)


# Subscription


class SubscriptionMoveApi(APIView):
    """A POST that moves the live subscription; a move its state refuses answers 409."""

    required_scopes = WRITE
    parser_classes = [JSONParser]
    serializer_class = None
    output_serializer_class = SubscriptionSerializer

    def move(self, *, subscription, data):
        raise NotImplementedError

    def post(self, request):
        subscription = live_subscription_or_404(request.user)
        data = {}
        if self.serializer_class is not None:
            serializer = self.serializer_class(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        subscription = self.move(subscription=subscription, data=data)
        return Response(self.output_serializer_class(subscription).data)


class SubscriptionApi(CustomerCache, APIView):
    required_scopes = READ | WRITE
    parser_classes = [JSONParser]
    cache_name, cache_timeout = "subscription", USER_DATA_TIMEOUT

    @extend_schema(tags=[TAG], summary="Your live subscription",
                   description="The ACTIVE or PAUSED subscription; 404 when you have none. Cached 5 minutes.",
                   responses={200: SubscriptionSerializer, **error_responses(401, 403, 404)})
    def get(self, request):
        return self.cached(lambda: SubscriptionSerializer(live_subscription_or_404(request.user)).data)

    @extend_schema(tags=[TAG], summary="Subscribe to a plan",
                   description="Starts the plan today; the first period pays its days pro rata. A plan with "
                   "`trial_days` starts with a free trial, your first on that plan (`trial_end`: the first day "
                   "billed). 400 when you already have a live subscription (change its plan instead).",
                   request=PlanChoiceSerializer,
                   responses={201: SubscriptionSerializer, **error_responses(400, 401, 403)})
    def post(self, request):
        serializer = PlanChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = subscription_create(user=request.user, plan=serializer.validated_data["plan"])
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)


MOVE_ERRORS = error_responses(400, 401, 403, 404, 409)


@extend_schema(tags=[TAG], summary="Change your plan", request=PlanChoiceSerializer,
               description="An upgrade (a higher monthly-equivalent price, or more tokens for the same price) applies "
               "from today: this period's fee is split by days between the two plans and the usage of each day "
               "belongs to the plan of that day. Any other change is scheduled for the end of the period "
               "(`effective`: `period_end`, see `scheduled_change`) and replaces one already scheduled.",
               responses={200: PlanChangeSerializer, **MOVE_ERRORS})
class SubscriptionChangePlanApi(SubscriptionMoveApi):
    serializer_class = PlanChoiceSerializer
    output_serializer_class = PlanChangeSerializer

    def move(self, *, subscription, data):
        return subscription_change_plan(subscription=subscription, plan=data["plan"])


@extend_schema(tags=[TAG], summary="Preview a plan change", request=PlanChoiceSerializer,
               description="The figures the plan page confirms before a change: this period's invoice so far as it "
               "would be with the change (lines, subtotal, tax, total; usage up to now, each day on its plan), and "
               "the total without it. Changes nothing; refuses what the change would refuse.",
               responses={200: PlanChangePreviewSerializer, **MOVE_ERRORS})
class SubscriptionChangePlanPreviewApi(APIView):
    # A POST because it takes the change's own body, but it writes nothing: a key that may read the billing may
    # see what a change would cost.
    required_scopes = {"POST": "billing:read"}
    parser_classes = [JSONParser]

    def post(self, request):
        subscription = live_subscription_or_404(request.user)
        serializer = PlanChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preview = subscription_change_preview(
            subscription=subscription, plan=serializer.validated_data["plan"], now=clock.now()
        )
        return Response(PlanChangePreviewSerializer(preview).data)


@extend_schema(tags=[TAG], summary="Cancel the scheduled plan change", request=None,
               description="The subscription renews on its current plan; 409 when no change is scheduled.",
               responses={200: SubscriptionSerializer, **MOVE_ERRORS})
class SubscriptionScheduledChangeCancelApi(SubscriptionMoveApi):
    def move(self, *, subscription, data):
        return subscription_scheduled_change_cancel(subscription=subscription)


@extend_schema(tags=[TAG], summary="Pause your subscription", request=None,
               description="No fee from today until resumed; 409 when it is paused already.",
               responses={200: SubscriptionSerializer, **MOVE_ERRORS})
class SubscriptionPauseApi(SubscriptionMoveApi):
    def move(self, *, subscription, data):
        return subscription_pause(subscription=subscription)


@extend_schema(tags=[TAG], summary="Resume your subscription", request=None,
               description="The fee runs again from today; 409 when it is not paused.",
               responses={200: SubscriptionSerializer, **MOVE_ERRORS})
class SubscriptionResumeApi(SubscriptionMoveApi):
    def move(self, *, subscription, data):
        return subscription_resume(subscription=subscription)


@extend_schema(tags=[TAG], summary="Cancel your subscription", request=SubscriptionCancelInputSerializer,
               responses={200: SubscriptionSerializer, **MOVE_ERRORS})
class SubscriptionCancelApi(SubscriptionMoveApi):
    serializer_class = SubscriptionCancelInputSerializer

    def move(self, *, subscription, data):
        return subscription_cancel(subscription=subscription, at_period_end=data["at_period_end"])


@extend_schema(tags=[TAG], summary="Redeem a coupon", request=CouponCodeSerializer,
               description="Applies the coupon of `code` to your subscription: a discount line before tax on the "
               "period invoices issued from now on (`once`: the next one; `repeating`: for `duration_months` months "
               "of periods, a yearly period counting 12; `forever`). 400 naming `code` when it cannot be redeemed "
               "(unknown, inactive, expired, used up, already used by you, in another currency, or a coupon already "
               "running); nothing is written then.",
               responses={200: CouponRedemptionSerializer, **error_responses(400, 401, 403, 404)})
class SubscriptionCouponApi(APIView):
    required_scopes = WRITE
    parser_classes = [JSONParser]

    def post(self, request):
        live_subscription_or_404(request.user)
        serializer = CouponCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            redemption = coupon_redeem(user=request.user, code=serializer.validated_data["code"])
        except CouponRefused as error:
            raise ValidationError({"code": [str(error)]}) from None
        return Response(CouponRedemptionSerializer(redemption).data)


# Plans, credits, alerts, usage


@extend_schema(tags=[TAG], summary="Plans offered", responses={200: PlanSerializer(many=True),
                                                              **error_responses(400, 401, 403, 404)})
class PlanListApi(generics.ListAPIView):
    """The plans you may subscribe to, cheapest first. Like every endpoint, it takes an API key."""

    required_scopes = READ
    serializer_class = PlanSerializer
    filterset_class = PlanFilter

    def get_queryset(self):
        return plans_offered()


@extend_schema(tags=[TAG], summary="Your credits", responses={200: CreditSerializer(many=True),
                                                            **error_responses(400, 401, 403, 404)})
class CreditListApi(CustomerListApi):
    """Every credit, the next to be spent first (oldest-expiring). Cached 5 minutes."""

    model = Credit
    serializer_class = CreditSerializer
    filterset_class = CreditFilter
    cache_name, cache_timeout = "credits", USER_DATA_TIMEOUT

    def customer_queryset(self, *, user):
        return customer_credits(user=user)


@extend_schema(tags=[TAG], summary="Your billing alerts", responses={200: AlertSerializer(many=True),
                                                                   **error_responses(400, 401, 403, 404)})
class AlertListApi(CustomerListApi):
    """Newest first. Cached 5 minutes."""

    model = BillingAlert
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    cache_name, cache_timeout = "alerts", USER_DATA_TIMEOUT

    def customer_queryset(self, *, user):
        return customer_alerts(user=user)


@extend_schema(tags=[TAG], summary="Mark an alert read", request=None,
               description="Sets `read_at` once; reading it again keeps the first time.",
               responses={200: AlertSerializer, **error_responses(401, 403, 404)})
class AlertReadApi(APIView):
    required_scopes = WRITE
    parser_classes = [JSONParser]

    def post(self, request, pk: int):
        alert = get_object_or_404(customer_alerts(user=request.user), pk=pk)
        return Response(AlertSerializer(alert_mark_read(alert=alert, now=clock.now())).data)


@extend_schema(tags=[TAG], summary="Your usage", parameters=[UsageQuerySerializer],
               responses={200: UsageSerializer, **error_responses(400, 401, 403)})
class UsageApi(CustomerCache, APIView):
    """Tokens used in the current billing period (or the one holding `period`) against the plan's quota, day by
    day, and the period's tokens and calls grouped by `group_by`. Cached 5 minutes: the last calls may take that
    long to show."""

    required_scopes = READ
    cache_name, cache_timeout = "usage", USER_DATA_TIMEOUT

    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month, group_by = query.validated_data.get("period"), query.validated_data["group_by"]

        def compute():
            now = clock.now()
            summary = usage_summary(user=request.user, now=now, month=month)
            breakdown = usage_breakdown(user=request.user, period=summary.period, group_by=group_by, now=now)
            return UsageSerializer({"summary": summary, "breakdown": breakdown}).data

        # One entry per answer: the grouping, the month asked (or the current period) and the language of the labels.
        month_asked = month.label if month else "current"
        return self.cached(compute, key=f"{group_by}:{month_asked}:{translation.get_language()}")
