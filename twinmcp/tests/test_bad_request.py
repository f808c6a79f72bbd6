"""A request refused before any view (a Host header not allowed) answers as its surface speaks: the API's JSON
error on /api/ and /mcp, the HTML page elsewhere."""
import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/billing/subscription/pause/", "/mcp"])
def test_the_api_refuses_a_host_it_does_not_serve_with_its_json_error(client, path):
    response = client.post(path, HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.django_db
def test_a_page_refuses_it_with_the_html_page(client):
    response = client.get("/billing/", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
