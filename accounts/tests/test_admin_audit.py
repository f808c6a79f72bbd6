from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.admin_audit import audit_change_lines
from accounts.models import AuditLog
from accounts.services import audit_chain_verify, audit_entry, audit_log_record_many
from accounts.tests.admin_helpers import admin_url, unchanged_form_data
from billing.models import Plan


@pytest.mark.django_db
def test_a_change_made_in_the_admin_is_audited_with_ip_and_user_agent(admin_client, admin_user):
    url = reverse("admin:billing_plan_add")
    data = {
        "code": "starter", "name": "Starter", "price": "5.00", "currency": "EUR", "interval": "MONTH",
        "included_tokens": "1000000", "overage_price_per_million": "3.00", "requests_per_minute": "30",
        "usage_pricing": "per_unit", "trial_days": "0", "is_active": "on",
    }

    response = admin_client.post(url, data, REMOTE_ADDR="192.0.2.44", HTTP_USER_AGENT="Safari/19")

    assert response.status_code == 302
    plan = Plan.objects.get(code="starter")
    entry = AuditLog.objects.get(action="admin.add")
    assert (entry.object_type, entry.object_id) == ("billing.Plan", str(plan.pk))
    assert (entry.actor, entry.ip_address, entry.user_agent) == (admin_user, "192.0.2.44", "Safari/19")


@pytest.mark.django_db
def test_a_change_made_in_the_admin_is_audited_with_the_old_and_new_values(admin_client):
    plan = Plan.objects.create(
        code="starter", name="Starter", price=Decimal("5.00"), included_tokens=1_000_000,
        overage_price_per_million=Decimal("3.00"), requests_per_minute=30,
    )
    page = admin_client.get(reverse("admin:billing_plan_change", args=[plan.pk]))

    admin_client.post(
        reverse("admin:billing_plan_change", args=[plan.pk]),
        unchanged_form_data(page) | {"price": "6.50", "requests_per_minute": "60"},
    )

    entry = AuditLog.objects.get(action="admin.change", object_type="billing.Plan", object_id=str(plan.pk))
    assert entry.changes["fields"] == {
        "price": {"old": "5.00", "new": "6.50"}, "requests_per_minute": {"old": 30, "new": 60},
    }
    assert audit_chain_verify().problems == []


@pytest.mark.django_db
class TestAuditChangesReadOldToNew:
    @pytest.fixture
    def plan(self):
        return Plan.objects.create(
            code="starter", name="Starter", price=Decimal("5.00"), included_tokens=1_000_000,
            overage_price_per_million=Decimal("3.00"), requests_per_minute=30,
        )

    @pytest.fixture
    def entries(self, plan):
        return audit_log_record_many([
            audit_entry(action="admin.change", obj=plan, changes={
                "message": "Changed price.", "fields": {"price": {"old": "5.00", "new": "6.50"}},
            }),
            audit_entry(action="subscription.change_plan", obj=plan, changes={"plan": ["pro", "team"]}),
            audit_entry(action="admin.change", obj=plan, changes={"fields": {"password": {"changed": True}}}),
        ])

    def test_the_audit_log_page_shows_each_change_as_a_line(self, admin_client, entries):
        pages = [admin_client.get(admin_url(entry, "change")).content.decode() for entry in entries]

        assert "<li>price: 5.00 → 6.50</li>" in pages[0]
        assert "<li>message: Changed price.</li>" in pages[0]
        assert "<li>plan: pro → team</li>" in pages[1]
        assert "<li>password: changed</li>" in pages[2]

    def test_an_objects_audit_trail_shows_old_to_new_not_json(self, admin_client, plan, entries):
        page = admin_client.get(admin_url(plan, "change")).content.decode()

        trail = page[page.index('id="audit-trail"'):]
        assert "<li>price: 5.00 → 6.50</li>" in trail
        assert "<li>plan: pro → team</li>" in trail
        assert "{&#x27;" not in trail  # no Python or JSON dict left in the trail

    def test_an_added_value_reads_from_nothing(self):
        changes = {"fields": {"email": {"old": None, "new": "b@example.test"}}}

        assert audit_change_lines(changes) == ["email: — → b@example.test"]
