"""A real localstripe process (a stateful fake Stripe server, with a Stripe.js shim) for the tests that reach
Stripe: started once per test session on a free loopback port, stopped after it. Nothing talks to Stripe.

billing/tests/conftest.py offers these fixtures to billing's tests; tests/test_browser_payment_method.py imports
them, so that a run of the browser test alone starts its own.
"""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import requests
import stripe

SECRET_KEY, PUBLISHABLE_KEY = "sk_test_twinmcp", "pk_test_twinmcp"
# Attempts rather than a deadline: `pytest --clock` shifts the wall clock of this process.
START_ATTEMPTS, START_PAUSE = 200, 0.05


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    """The base URL of a running localstripe, e.g. http://127.0.0.1:41234 (its output in a log file)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("wb") as output:
        # --from-scratch: never the objects another run left in localstripe's dump file.
        process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(START_ATTEMPTS):
            if process.poll() is not None:
                raise RuntimeError(f"localstripe stopped at start-up:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1):
                    break
            except OSError:
                time.sleep(START_PAUSE)
        else:
            raise RuntimeError(f"localstripe did not answer on {url}:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stripe_settings(settings, localstripe):
    """PAYMENT_PROVIDER `stripe`, its SDK and Stripe.js pointed at the session's localstripe; its URL."""
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY = SECRET_KEY, PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = "whsec_twinmcp"
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_JS_URL = f"{localstripe}/js.stripe.com/v3/"
    return localstripe


def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    """Stripe as the tests read it back: what it holds for a customer, whatever this server stored."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe_url})


def card_confirm(localstripe_url: str, *, client_secret: str, number: str = "4242424242424242",
                 exp_month: int = 12, exp_year: int = 2034) -> requests.Response:
    """What Stripe.js does in the customer's browser: the card, with the publishable key and the SetupIntent's
    client secret, straight to Stripe (localstripe's shim sends this very request)."""
    setup_intent_id = client_secret.split("_secret_")[0]
    body = {
        "key": PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": client_secret,
        "payment_method_data": {
            "type": "card",
            "card": {"number": number, "exp_month": str(exp_month), "exp_year": str(exp_year), "cvc": "123"},
        },
    }
    return requests.post(
        f"{localstripe_url}/v1/setup_intents/{setup_intent_id}/confirm", data=json.dumps(body), timeout=10
    )
