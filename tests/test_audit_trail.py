"""Each operation on money, subscriptions, plans, keys and profiles, made over HTTP, leaves an audit row with
the person who made it, their IP address and their user agent."""
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog
from accounts.services import api_key_create, audit_chain_verify
from accounts.tests.factories import UserFactory, make_customer
from billing import clock
from billing.models import Credit, Invoice, Plan
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from billing.tests.test_admin_actions import apply_action

IP, AGENT = "198.51.100.23", "Mozilla/5.0 (audit-test)"


def browser(user) -> Client:
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    client.force_login(user)
    return client


def api(user, *, scopes: list[str]) -> Client:
    token = api_key_create(user=user, name="audit test", scopes=scopes).token
    return Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT, HTTP_AUTHORIZATION=f"Bearer {token}")


def audited(action: str, actor) -> AuditLog:
    return AuditLog.objects.get(action=action, actor=actor)


@pytest.mark.django_db
class TestCustomerOperations:
    @pytest.fixture
    def customer(self):
        user = make_customer()
        SubscriptionFactory(user=user, plan=PlanFactory())
        PlanFactory(code="team", name="Team", price=Decimal("99.00"))
        return user

    def test_subscription_moves_made_through_the_api(self, customer):
        client = api(customer, scopes=["billing:write"])

        assert client.post("/api/billing/subscription/pause/").status_code == 200
        assert client.post("/api/billing/subscription/resume/").status_code == 200
        change = client.post(
            "/api/billing/subscription/change-plan/", {"plan": "team"}, content_type="application/json"
        )
        assert change.status_code == 200

        for action in ("subscription.pause", "subscription.resume", "subscription.change_plan"):
            row = audited(action, customer)
            assert (row.ip_address, row.user_agent) == (IP, AGENT)

    def test_api_keys_created_and_revoked_through_the_api(self, customer):
        client = api(customer, scopes=["account:admin", "docs:read"])

        created = client.post("/api/account/api-keys/", {"name": "ci", "scopes": ["docs:read"]},
                              content_type="application/json")
        assert created.status_code == 201
        assert client.delete(f"/api/account/api-keys/{created.json()['id']}/").status_code == 204

        assert audited("api_key.revoke", customer).ip_address == IP
        assert AuditLog.objects.filter(action="api_key.create", actor=customer, ip_address=IP).exists()

    def test_a_profile_change_names_the_fields_and_not_their_values(self, customer):
        client = browser(customer)
        page = client.get(reverse("accounts:profile"))
        form = page.context["form"]
        data = {name: form.initial.get(name) or "" for name in form.fields}
        data.update(phone="+33 7 00 00 00 99", city="Lyon")

        response = client.post(reverse("accounts:profile"), data)

        assert response.status_code == 302
        row = audited("profile.update", customer)
        assert (row.ip_address, row.user_agent) == (IP, AGENT)
        assert row.changes == {"fields": ["city", "phone"]}
        assert "+33 7 00 00 00 99" not in str(row.changes)


@pytest.mark.django_db
class TestFinanceOperations:
    @pytest.fixture
    def staff(self):
        return UserFactory(is_staff=True, is_superuser=True)

    def test_invoice_payment_credit_and_plan_operations_in_the_admin(self, staff):
        client = browser(staff)
        customer = make_customer()
        draft = InvoiceFactory(subscription=SubscriptionFactory(user=customer))

        apply_action(client, Invoice, "finalize_and_send", [draft])
        draft.refresh_from_db()
        apply_action(client, Invoice, "record_payment", [draft], amount="10.00", method="BANK_TRANSFER",
                     reference="VIR 1", received_on=clock.today().isoformat(), token=str(uuid.uuid4()))
        apply_action(
            client, Invoice, "cancel_with_credit_note", [draft], reason_code="OTHER", reason="Billed by mistake"
        )
        client.post(reverse("admin:billing_plan_add"), {
            "code": "starter", "name": "Starter", "price": "5.00", "currency": "EUR", "interval": "MONTH",
            "included_tokens": "1000000", "overage_price_per_million": "3.00", "requests_per_minute": "30",
            "usage_pricing": "per_unit", "trial_days": "0", "is_active": "on",
        })

        for action in ("invoice.finalize", "payment.record", "invoice.cancel", "credit_note.issue", "admin.add"):
            row = audited(action, staff)
            assert (row.ip_address, row.user_agent) == (IP, AGENT), action
        assert Credit.objects.get(user=customer).amount == Decimal("10.00")  # what was paid comes back
        assert Plan.objects.filter(code="starter").exists()
        assert audit_chain_verify().problems == []
