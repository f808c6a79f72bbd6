"""The HTTP side of a delivery: which addresses an endpoint may have (never a private network: SSRF), and the
POST itself, made to the very address that was checked, so that DNS cannot point elsewhere in between."""
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext as _

from core.exceptions import ApplicationError

from .models import RESPONSE_EXCERPT_BYTES

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
CLOUD_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class AddressNotAllowed(ApplicationError):
    """The URL, or an address its host resolves to, is not one webhooks are sent to: never retried."""


class HostNotFound(ApplicationError):
    """The host does not resolve now: at delivery, a failure like any other (retried)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    netloc: str
    path: str


@dataclass(frozen=True)
class Answer:
    """What came back from one POST: a status code and the start of the body, or why there was none."""

    status_code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def target_of(url: str) -> Target:
    """The URL's parts, refused when it is not https (or http to loopback, see address_checked) or holds
    credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise AddressNotAllowed(_("This is not a valid URL: %(error)s.") % {"error": error}) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise AddressNotAllowed(_("Use an https:// URL."))
    if parts.username is not None or parts.password is not None:
        raise AddressNotAllowed(_("The URL must not hold a user name or password."))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=parts.hostname, port=port or (443 if scheme == "https" else 80),
                  netloc=parts.netloc, path=path)


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _refused(embedded)
    if address.is_loopback:
        return not settings.WEBHOOKS_ALLOW_LOOPBACK
    return (
        address in CLOUD_METADATA or address in SHARED_ADDRESS_SPACE or address.is_private or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global
    )


def _is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def addresses_checked(target: Target) -> list[str]:
    """The addresses to connect to, in the resolver's order: the host resolved now, refused if any of them is
    private, loopback (unless WEBHOOKS_ALLOW_LOOPBACK), link-local, multicast, reserved, unspecified, shared
    (100.64/10), the cloud metadata address, or an IPv4 one of those inside IPv6; plain http only to loopback,
    when allowed."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):  # no such name, or not one (too long, a NUL byte)
        raise HostNotFound(_("The host %(host)s could not be found.") % {"host": target.host}) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = [address for address in addresses if _refused(address)]
    if refused:
        raise AddressNotAllowed(
            _("Address not allowed: %(host)s is %(address)s, a private, loopback, link-local or reserved address. "
              "Webhooks are sent only to public addresses.") % {"host": target.host, "address": refused[0]}
        )
    if target.scheme == "http" and not all(_is_loopback(address) for address in addresses):
        raise AddressNotAllowed(_("Use an https:// URL."))
    return list(dict.fromkeys(str(address) for address in addresses))


def _pool(target: Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection to the checked `address`; over https the certificate and SNI still name the host."""
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, target.port, server_hostname=target.host,
                                           assert_hostname=target.host, cert_reqs="CERT_REQUIRED", **options)
    return urllib3.HTTPConnectionPool(address, target.port, **options)


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` once: no redirect followed, WEBHOOKS_TIMEOUT_SECONDS at most in all, 1 KB of the answer read.
    An address of the host that cannot be reached gives way to the next one checked. Raises AddressNotAllowed
    (never sent) or HostNotFound; any other failure is an Answer with its error."""
    target = target_of(url)
    addresses = addresses_checked(target)
    started = time.monotonic()
    deadline = started + settings.WEBHOOKS_TIMEOUT_SECONDS
    status_code, excerpt, error = None, b"", ""
    for address in addresses:
        pool = _pool(target, address, timeout=max(deadline - time.monotonic(), 0.1))
        try:
            response = pool.urlopen(
                "POST", target.path, body=body, headers={**headers, "Host": target.netloc}, redirect=False,
                retries=False, preload_content=False,
            )
            try:
                excerpt = response.read(RESPONSE_EXCERPT_BYTES)
            finally:
                response.close()
            status_code, error = response.status, ""
            break
        except urllib3.exceptions.ConnectTimeoutError as failure:  # refused or unreachable: nothing was sent
            error = f"{type(failure).__name__}: {failure}"[:500]
            if time.monotonic() >= deadline:
                break
        except urllib3.exceptions.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
            break
        finally:
            pool.close()
    duration_ms = round((time.monotonic() - started) * 1000)
    body_text = excerpt.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_BYTES]
    return Answer(status_code=status_code, body=body_text, error=error, duration_ms=duration_ms)
