from django.urls import path, re_path

from accounts.apis import api_not_found
from billing.customer import apis
from billing.payments.provider_webhook import PaymentWebhookView
from billing.payments.stripe_webhook import StripeWebhookView

app_name = "billing-api"

urlpatterns = [
    path("invoices/", apis.InvoiceListApi.as_view(), name="invoice-list"),
    path("invoices/upcoming/", apis.InvoiceUpcomingApi.as_view(), name="invoice-upcoming"),
    path("invoices/<int:pk>/", apis.InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("invoices/<int:pk>/pdf/", apis.InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<int:pk>/ubl/", apis.InvoiceUblApi.as_view(), name="invoice-ubl"),
    path("invoices/<int:pk>/pay/", apis.InvoicePayApi.as_view(), name="invoice-pay"),
    path("payments/", apis.PaymentListApi.as_view(), name="payment-list"),
    path("payments/webhook/", PaymentWebhookView.as_view(), name="payment-webhook"),
    path("stripe/webhook/", StripeWebhookView.as_view(), name="stripe-webhook"),
    path("subscription/", apis.SubscriptionApi.as_view(), name="subscription"),
    path("subscription/change-plan/", apis.SubscriptionChangePlanApi.as_view(), name="subscription-change-plan"),
    path(
        "subscription/change-plan/preview/", apis.SubscriptionChangePlanPreviewApi.as_view(),
        name="subscription-change-plan-preview",
    ),
    path(
        "subscription/scheduled-change/cancel/", apis.SubscriptionScheduledChangeCancelApi.as_view(),
        name="subscription-scheduled-change-cancel",
    ),
    path("subscription/coupon/", apis.SubscriptionCouponApi.as_view(), name="subscription-coupon"),
    path("subscription/pause/", apis.SubscriptionPauseApi.as_view(), name="subscription-pause"),
    path("subscription/resume/", apis.SubscriptionResumeApi.as_view(), name="subscription-resume"),
    path("subscription/cancel/", apis.SubscriptionCancelApi.as_view(), name="subscription-cancel"),
    path("plans/", apis.PlanListApi.as_view(), name="plan-list"),
    path("credits/", apis.CreditListApi.as_view(), name="credit-list"),
    path("alerts/", apis.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:pk>/read/", apis.AlertReadApi.as_view(), name="alert-read"),
    path("usage/", apis.UsageApi.as_view(), name="usage"),
    # Any other path here (an id that is not a number, say) answers the API's JSON 404, not an HTML page.
    re_path(r"^.*/$", api_not_found),
]
