from django.urls import path

from billing.customer import views

app_name = "billing"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("usage/", views.usage, name="usage"),
    path("usage/export.csv", views.usage_export, name="usage_export"),
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<int:pk>/credit-note/pdf/", views.credit_note_pdf, name="credit_note_pdf"),
    path("invoices/<int:pk>/ubl/", views.invoice_ubl, name="invoice_ubl"),
    path("invoices/<int:pk>/credit-note/ubl/", views.credit_note_ubl, name="credit_note_ubl"),
    path("credit-notes/<int:pk>/pdf/", views.credit_note_file, name="credit_note_file"),
    path("credit-notes/<int:pk>/ubl/", views.credit_note_file_ubl, name="credit_note_file_ubl"),
    path("payments/", views.payments, name="payments"),
    path("payment-method/", views.payment_method, name="payment_method"),
    path("credits/", views.credits, name="credits"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/read/", views.alert_read, name="alert_read"),
    path("plan/", views.plan_change, name="plan_change"),
    path("plan/confirm/", views.plan_change_confirm, name="plan_change_confirm"),
    path("plan/scheduled-change/cancel/", views.scheduled_change_cancel, name="scheduled_change_cancel"),
    path("plan/coupon/", views.coupon, name="coupon"),
    path("cancel/", views.cancel, name="cancel"),
]
