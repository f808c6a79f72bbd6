"""The site's Content-Security-Policy, built once from settings, on every answer: pages and the API alike."""
import pytest
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from accounts.middleware import ContentSecurityPolicyMiddleware
from accounts.services import api_key_create
from accounts.tests.factories import make_customer


def answered(view, path: str = "/somewhere/"):
    """The answer of `view` through the middleware alone."""
    request = RequestFactory().get(path)
    middleware = ContentSecurityPolicyMiddleware(lambda request: view(request))
    return middleware(request)


@pytest.mark.django_db
def test_an_api_answer_carries_the_sites_policy_and_the_other_security_headers():
    issued = api_key_create(user=make_customer(), name="tests", scopes=["billing:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")

    response = client.get("/api/billing/invoices/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == build_policy()
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response["X-Request-ID"]) == 32


def test_a_policy_changed_in_settings_is_on_the_next_answer():
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'none'"]}}):
        assert answered(lambda request: HttpResponse())["Content-Security-Policy"] == "default-src 'none'"

    assert answered(lambda request: HttpResponse())["Content-Security-Policy"] == build_policy()


def test_a_report_only_policy_and_excluded_prefixes_are_kept():
    report_only = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/csp-report/"},
                   "EXCLUDE_URL_PREFIXES": ["/hooks/"]}
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=report_only):
        page = answered(lambda request: HttpResponse())
        hook = answered(lambda request: HttpResponse(), path="/hooks/stripe/")

    assert page["Content-Security-Policy-Report-Only"] == "default-src 'self'; report-uri /csp-report/"
    assert "Content-Security-Policy-Report-Only" not in hook
    assert hook["Content-Security-Policy"] == build_policy()


def test_a_page_that_changes_its_own_policy_or_uses_a_nonce_gets_it():
    def with_update(request):
        response = HttpResponse()
        response._csp_update = {"script-src": ["https://js.stripe.com"]}
        return response

    def with_nonce(request):
        return HttpResponse(f'<script nonce="{request.csp_nonce}"></script>')

    updated = answered(with_update)["Content-Security-Policy"]
    nonced = answered(with_nonce)

    assert "script-src 'self' https://js.stripe.com" in updated and updated != build_policy()
    nonce = nonced.content.decode().split('nonce="')[1].split('"')[0]
    assert nonced["Content-Security-Policy"] == build_policy(nonce=nonce)  # the nonce where a directive asks for it
