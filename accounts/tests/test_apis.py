"""The customer's account API: API keys (token shown once) and the GDPR export."""
import datetime
import hashlib
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog, ConsentPurpose, ConsentRecord
from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from billing.services import credit_grant, invoice_finalize, payment_record
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

UTC = datetime.UTC


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def client_for(user, scopes=("account:admin", "docs:read")) -> APIClient:
    issued = api_key_create(user=user, name="tests", scopes=scopes)
    client = APIClient()
    client.credentials(**bearer(issued.token))
    return client


def error_of(response) -> dict:
    assert set(response.json()) == {"error"}
    return response.json()["error"]


@pytest.mark.django_db
class TestApiKeyList:
    def test_lists_the_customers_keys_without_secrets(self):
        user = make_customer()
        issued = api_key_create(user=user, name="CI", scopes=["account:admin"],
                                expires_at=datetime.datetime(2099, 1, 1, tzinfo=UTC))
        api_key_create(user=make_customer(), name="someone else's", scopes=["docs:read"])
        client = APIClient()
        client.credentials(**bearer(issued.token))

        response = client.get("/api/account/api-keys/")

        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        [key] = body["results"]
        assert set(key) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at",
                            "revoked_at", "is_usable"}
        assert (key["id"], key["name"], key["prefix"], key["scopes"]) == (
            issued.api_key.pk, "CI", issued.api_key.prefix, ["account:admin"],
        )
        assert (key["expires_at"], key["revoked_at"], key["is_usable"]) == ("2099-01-01T00:00:00Z", None, True)
        assert key["last_used_at"] is not None  # this very call used it
        assert issued.token.split("_", 2)[2] not in response.content.decode()
        assert issued.api_key.key_hash not in response.content.decode()

    def test_shows_revoked_keys_as_unusable(self):
        user = make_customer()
        client = client_for(user)
        old = api_key_create(user=user, name="old", scopes=["docs:read"]).api_key
        client.delete(f"/api/account/api-keys/{old.pk}/")

        rows = {row["name"]: row for row in client.get("/api/account/api-keys/").json()["results"]}

        assert rows["old"]["is_usable"] is False and rows["old"]["revoked_at"] is not None
        assert rows["tests"]["is_usable"] is True

    def test_answers_401_without_a_key(self):
        response = APIClient().get("/api/account/api-keys/")

        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.django_db
class TestApiKeyCreate:
    def test_creates_a_key_and_shows_its_token_once(self):
        user = make_customer()
        client = client_for(user)

        response = client.post("/api/account/api-keys/", {"name": "laptop", "scopes": ["account:admin"]},
                               format="json")

        assert response.status_code == 201
        body = response.json()
        api_key = ApiKey.objects.get(pk=body["id"])
        assert (api_key.user, api_key.name, api_key.scopes) == (user, "laptop", ["account:admin"])
        assert body["token"].startswith(f"tmcp_{api_key.prefix}_")
        assert api_key.key_hash == hashlib.sha256(body["token"].split("_", 2)[2].encode()).hexdigest()
        assert "key_hash" not in body
        # The token works at once, and is never shown again.
        assert APIClient().get("/api/account/api-keys/", **bearer(body["token"])).status_code == 200
        assert body["token"] not in client.get("/api/account/api-keys/").content.decode()

    def test_scopes_default_to_reading_the_docs_and_an_expiry_is_kept(self):
        client = client_for(make_customer())

        response = client.post("/api/account/api-keys/", {"name": "ci", "expires_at": "2099-06-01T12:00:00Z"},
                               format="json")

        assert response.status_code == 201
        assert (response.json()["scopes"], response.json()["expires_at"]) == (["docs:read"], "2099-06-01T12:00:00Z")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"scopes": ["docs:read"]}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "k", "scopes": ["admin"]}, "scopes"),
            ({"name": "k", "scopes": ["usage:write"]}, "scopes"),  # the documentation server's, issued by staff
            ({"name": "k", "scopes": []}, "scopes"),
            ({"name": "k", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
            ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
        ],
    )
    def test_bad_input_answers_400_naming_the_field_and_writes_nothing(self, body, field):
        client = client_for(make_customer())
        keys, audit_rows = ApiKey.objects.count(), AuditLog.objects.count()

        response = client.post("/api/account/api-keys/", body, format="json")

        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid"
        assert list(error["fields"]) == [field]
        assert error["message"].startswith(f"{field}: ")
        assert (ApiKey.objects.count(), AuditLog.objects.count()) == (keys, audit_rows)

    def test_the_customer_picks_the_scopes_and_sees_them(self):
        client = client_for(make_customer(), scopes=["account:admin", "billing:read", "billing:write", "docs:read"])

        response = client.post("/api/account/api-keys/", {"name": "dashboard", "scopes": ["billing:read", "docs:read"]},
                               format="json")

        assert response.status_code == 201
        assert response.json()["scopes"] == ["billing:read", "docs:read"]
        assert ApiKey.objects.get(pk=response.json()["id"]).scopes == ["billing:read", "docs:read"]
        listed = {key["name"]: key["scopes"] for key in client.get("/api/account/api-keys/").json()["results"]}
        assert listed["dashboard"] == ["billing:read", "docs:read"]

    @pytest.mark.parametrize(
        ("held", "body", "withheld"),
        [
            (["account:admin"], {"name": "k"}, "docs:read"),  # the default scope, which this key lacks
            (["account:admin", "docs:read"], {"name": "k", "scopes": ["docs:read", "billing:write"]}, "billing:write"),
            # Even a staff-issued key holding usage:write cannot pass it on.
            (["account:admin", "usage:write"], {"name": "k", "scopes": ["usage:write"]}, "usage:write"),
        ],
    )
    def test_a_key_never_gives_a_scope_it_lacks_and_nothing_is_written(self, held, body, withheld):
        client = client_for(make_customer(), scopes=held)
        keys, audit_rows = ApiKey.objects.count(), AuditLog.objects.count()

        response = client.post("/api/account/api-keys/", body, format="json")

        assert response.status_code == 400
        error = error_of(response)
        assert (error["code"], list(error["fields"])) == ("invalid", ["scopes"])
        assert withheld in error["message"]
        assert (ApiKey.objects.count(), AuditLog.objects.count()) == (keys, audit_rows)

    def test_a_body_that_is_not_json_answers_400(self):
        client = client_for(make_customer())

        response = client.post("/api/account/api-keys/", "{not json", content_type="application/json")

        assert response.status_code == 400
        assert error_of(response)["code"] == "parse_error"

    def test_answers_401_without_a_key_and_writes_nothing(self):
        response = APIClient().post("/api/account/api-keys/", {"name": "k"}, format="json")

        assert response.status_code == 401
        assert not ApiKey.objects.exists()


@pytest.mark.django_db
class TestApiKeyRevoke:
    def test_revokes_a_key_which_then_stops_working(self):
        user = make_customer()
        client = client_for(user)
        other = api_key_create(user=user, name="phone", scopes=["docs:read"])

        response = client.delete(f"/api/account/api-keys/{other.api_key.pk}/")

        assert response.status_code == 204
        other.api_key.refresh_from_db()
        assert other.api_key.revoked_at is not None
        assert APIClient().get("/api/account/api-keys/", **bearer(other.token)).status_code == 401
        assert AuditLog.objects.filter(action="api_key.revoke", object_id=str(other.api_key.pk)).count() == 1
        assert client.delete(f"/api/account/api-keys/{other.api_key.pk}/").status_code == 204  # again: no change
        assert AuditLog.objects.filter(action="api_key.revoke", object_id=str(other.api_key.pk)).count() == 1

    def test_another_customers_key_answers_404_and_keeps_working(self):
        others = api_key_create(user=make_customer(), name="theirs", scopes=["account:admin"])

        response = client_for(make_customer()).delete(f"/api/account/api-keys/{others.api_key.pk}/")

        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
        others.api_key.refresh_from_db()
        assert others.api_key.revoked_at is None
        assert APIClient().get("/api/account/api-keys/", **bearer(others.token)).status_code == 200

    def test_answers_401_without_a_key(self):
        key = api_key_create(user=make_customer(), name="k", scopes=["docs:read"]).api_key

        assert APIClient().delete(f"/api/account/api-keys/{key.pk}/").status_code == 401
        key.refresh_from_db()
        assert key.revoked_at is None


def _billing_world(user, *, marker: str):
    """A subscription, an issued and paid invoice, a credit, a consent and usage for `user`."""
    subscription = SubscriptionFactory(user=user, plan=PlanFactory())
    invoice = invoice_finalize(invoice=InvoiceFactory(subscription=subscription),
                               now=datetime.datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key=f"pay-{marker}",
                   provider_reference=f"ref-{marker}", now=datetime.datetime(2026, 11, 5, 8, 0, tzinfo=UTC))
    credit_grant(user=user, type="PROMOTIONAL", amount=Decimal("5.00"), reason=f"Welcome {marker}")
    ConsentRecord.objects.create(user=user, purpose=ConsentPurpose.MARKETING_EMAIL, granted=True,
                                 ip_address="203.0.113.7", user_agent=f"browser-{marker}")
    UsageLogFactory(user=user, tokens=1200, created_at=datetime.datetime(2026, 10, 3, 12, 0, tzinfo=UTC))
    UsageLogFactory(user=user, tokens=800, created_at=datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    return invoice


@pytest.mark.django_db
class TestExport:
    def test_exports_all_the_customers_data_and_nobody_elses(self):
        user = make_customer(full_name="Ada Lovelace", phone="+33 6 12 34 56 78")
        other = make_customer(full_name="Grace Hopper", phone="+1 555 0100")
        invoice = _billing_world(user, marker="ada")
        others_invoice = _billing_world(other, marker="grace")
        client = client_for(user)

        response = client.get("/api/account/export/")

        assert response.status_code == 200
        data = response.json()
        assert data["user"]["email"] == user.email
        assert (data["profile"]["full_name"], data["profile"]["phone"]) == ("Ada Lovelace", "+33 6 12 34 56 78")
        assert [key["name"] for key in data["api_keys"]] == ["tests"]
        assert "key_hash" not in data["api_keys"][0]
        assert [(c["purpose"], c["granted"], c["ip_address"]) for c in data["consents"]] == [
            ("MARKETING_EMAIL", True, "203.0.113.7"),
        ]
        assert [(s["plan"], s["status"]) for s in data["subscriptions"]] == [("pro", "ACTIVE")]
        [exported_invoice] = data["invoices"]
        assert (exported_invoice["number"], exported_invoice["total"], exported_invoice["status"]) == (
            invoice.number, "22.80", "PAID",
        )
        assert exported_invoice["lines"][0]["amount"] == "19.00"
        assert [(p["amount"], p["provider_reference"]) for p in data["payments"]] == [("22.80", "ref-ada")]
        assert [(c["amount"], c["reason"]) for c in data["credits"]] == [("5.00", "Welcome ada")]
        # 23:30 UTC on 31 October is November in Paris.
        assert data["usage_by_month"] == [{"month": "2026-10", "calls": 1, "tokens": 1200},
                                          {"month": "2026-11", "calls": 1, "tokens": 800}]
        audited = {(entry["action"], entry["object_id"]) for entry in data["audit_log"]}
        assert ("invoice.finalize", str(invoice.pk)) in audited
        assert ("api_key.create", str(user.api_keys.get().pk)) in audited
        assert {entry["actor"] for entry in data["audit_log"]} <= {"you", "system", "staff"}
        # Nothing of the other customer's.
        dump = json.dumps(data)
        for theirs in [other.email, "Grace Hopper", "+1 555 0100", "ref-grace", "Welcome grace", "browser-grace",
                       others_invoice.number]:
            assert theirs not in dump
        assert ("invoice.finalize", str(others_invoice.pk)) not in audited

    def test_the_export_is_audited(self):
        user = make_customer()

        client_for(user).get("/api/account/export/")

        assert AuditLog.objects.filter(action="account.export", object_id=str(user.pk), actor=user).count() == 1

    def test_a_staff_members_identity_stays_out_of_the_customers_export(self):
        user = make_customer()
        staff = make_customer(full_name="Finance Person")
        staff.is_staff = True
        staff.save()
        credit_grant(user=user, type="COMPENSATION", amount=Decimal("3.00"), reason="Outage", created_by=staff)

        data = client_for(user).get("/api/account/export/").json()

        [grant] = [entry for entry in data["audit_log"] if entry["action"] == "credit.grant"]
        assert (grant["actor"], grant["ip_address"], grant["changes"]["amount"]) == ("staff", None, "3.00")
        assert staff.email not in json.dumps(data)

    def test_answers_401_without_a_key(self):
        assert APIClient().get("/api/account/export/").status_code == 401


@pytest.mark.django_db
def test_an_unknown_account_path_answers_the_json_404():
    response = client_for(make_customer()).get("/api/account/api-keys/abc/")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
