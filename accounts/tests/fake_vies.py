"""A fake VIES on loopback: a real HTTP server in a thread, answering `checkVatApprox` SOAP envelopes as the
European Commission's service does (a response with `requestIdentifier` when a requester is given, HTTP 500
with a SOAP fault when a member state's service is down), so that tests go through the real client code.

    with FakeVies() as vies:
        vies.answers["DE136695976"] = FakeVies.VALID
        settings.VIES_URL = vies.url
"""
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree
from xml.sax.saxutils import escape

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
VIES_NS = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"


class FakeVies:
    """`answers` maps a number (country prefix included) to VALID, INVALID, SLOW or a fault string such as
    "MS_UNAVAILABLE"; a number not in it is unknown (INVALID). `requests` counts the checks per number."""

    VALID = "VALID"
    INVALID = "INVALID"
    SLOW = "SLOW"  # answers valid, after `slow_seconds`: longer than the client waits

    def __init__(self, *, slow_seconds: float = 3.0):
        self.answers: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.requesters: list[str] = []
        self.slow_seconds = slow_seconds
        self._references = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/taxation_customs/vies/services/checkVatService"

    def __enter__(self) -> "FakeVies":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_reference(self) -> str:
        with self._lock:
            self._references += 1
            return f"WAPIAAAAZ{self._references:07d}"

    def answer(self, envelope: bytes) -> tuple[int, str]:
        """(HTTP status, response envelope) for a request envelope."""
        request = ElementTree.fromstring(envelope).find(f".//{{{VIES_NS}}}checkVatApprox")
        if request is None:
            return 500, _fault("INVALID_INPUT")

        def field(name: str) -> str:
            return (request.findtext(f"{{{VIES_NS}}}{name}") or "").strip()

        country, number = field("countryCode"), field("vatNumber")
        requester = field("requesterCountryCode") + field("requesterVatNumber")
        with self._lock:
            self.requests[country + number] += 1
            self.requesters.append(requester)
        outcome = self.answers.get(country + number, self.INVALID)
        if outcome == self.SLOW:
            time.sleep(self.slow_seconds)
        elif outcome not in (self.VALID, self.INVALID):
            return 500, _fault(outcome)
        valid = outcome != self.INVALID
        reference = f"<ns2:requestIdentifier>{self._next_reference()}</ns2:requestIdentifier>" if requester else ""
        body = (
            f'<ns2:checkVatApproxResponse xmlns:ns2="{VIES_NS}">'
            f"<ns2:countryCode>{escape(country)}</ns2:countryCode><ns2:vatNumber>{escape(number)}</ns2:vatNumber>"
            "<ns2:requestDate>2026-12-07+01:00</ns2:requestDate>"
            f"<ns2:valid>{'true' if valid else 'false'}</ns2:valid>"
            "<ns2:traderName>---</ns2:traderName><ns2:traderCompanyType>---</ns2:traderCompanyType>"
            f"<ns2:traderAddress>---</ns2:traderAddress>{reference}"
            "</ns2:checkVatApproxResponse>"
        )
        return 200, _envelope(body)

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                status, body = fake.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                payload = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml;charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # a client that gave up waiting (SLOW)
                    pass

            def log_message(self, format, *args):
                pass

        return Handler


def _envelope(body: str) -> str:
    return f'<env:Envelope xmlns:env="{SOAP_NS}"><env:Header/><env:Body>{body}</env:Body></env:Envelope>'


def _fault(faultstring: str) -> str:
    return _envelope(
        f"<env:Fault><faultcode>env:Server</faultcode><faultstring>{escape(faultstring)}</faultstring></env:Fault>"
    )
