"""The client's address, read through trusted proxies only, and the bucket per-address limits count by.

Without ``CLIENT_ADDRESS_HEADER`` the client is the peer of the connection (``REMOTE_ADDR``). With it,
the header is believed only from a peer listed in ``TRUSTED_PROXIES`` (addresses, networks, and
``unix`` for a peer on a unix socket, such as nginx in front of gunicorn under
``scripts/serve-production``); anyone else could write any address into it.

- ``X-Real-IP`` holds one address, set (not appended) by the proxy.
- ``X-Forwarded-For`` is a list each proxy appends its peer to, so only its right-hand end is the
  proxies' own: it is read from the right, past every trusted proxy, to the first address that is
  not one (the rightmost-untrusted rule, as nginx's ``real_ip_recursive``). Entries to the left of
  that are the client's to write, and never read.

IPv6 clients are counted by their /64 network: one home or office line gets a /64, and any of its
2^64 addresses is the same client to a limit (RFC 6177; a per-address limit on single IPv6
addresses limits nothing). IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

IPV6_PREFIX = 64
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str | None) -> Address | None:
    """The address in ``text`` (IPv6 possibly in brackets or with a zone), or None if it is none."""
    text = (text or "").strip().strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


UNIX_SOCKET = "unix"


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted if entry != UNIX_SOCKET)


def is_trusted_proxy(address: Address | None) -> bool:
    return address is not None and any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def is_trusted_peer(peer: str) -> bool:
    """Whether the connection's peer (``REMOTE_ADDR``, empty on a unix socket) is a configured proxy."""
    if peer == "":
        return UNIX_SOCKET in settings.TRUSTED_PROXIES
    return is_trusted_proxy(parse_address(peer))


def client_address(request) -> Address | None:
    """The client's address as the configured proxies report it (see the module's docstring); None
    when there is no request or no readable address."""
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR", "")
    header = settings.CLIENT_ADDRESS_HEADER
    if not header or not is_trusted_peer(peer):
        return parse_address(peer)
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    if header.lower() == "x-real-ip":
        return parse_address(value) or parse_address(peer)
    client = parse_address(peer)
    for entry in reversed(value.split(",")):
        hop = parse_address(entry)
        if hop is None:
            break  # not an address a proxy wrote: the last readable hop is the client
        client = hop
        if not is_trusted_proxy(hop):
            break
    return client


def address_bucket(address: Address | None) -> str | None:
    """What per-address limits count by: an IPv4 address itself, an IPv6 address's /64 network."""
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def client_bucket(request) -> str | None:
    """The bucket of the request's client (``address_bucket(client_address(request))``)."""
    return address_bucket(client_address(request))
