"""Customers at the payment provider, read-only: the services create them and save their card, finance finds
a customer's Stripe id and the card their invoices are charged to."""
from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin
from billing.models import PaymentProviderCustomer


@admin.register(PaymentProviderCustomer)
class PaymentProviderCustomerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "provider", "provider_customer_id", "card_brand", "card_last4", "updated_at")
    list_select_related = ("user",)
    list_filter = ("provider", "card_brand")
    search_fields = ("user__email", "=provider_customer_id", "=default_payment_method_id")
    raw_id_fields = ("user",)
    ordering = ("-updated_at", "-id")
