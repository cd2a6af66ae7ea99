"""Who is using the app: the owner (may train, choose server paths, manage models) or a visitor.

:func:`resolve_role` is pure: it takes the server address, the request headers, the environment,
the secrets and the signed-in user as plain values, so every rule is tested without a server.
:func:`current_identity` reads those from Streamlit and calls it; pages and ``Home.py`` call that.

The rules, first match wins:

1. ``FER_APP_PUBLIC=1`` in the environment, or ``public = true`` under ``[app]`` in the secrets:
   everyone is a visitor, signed in or local. A value that is neither clearly true nor clearly
   false (``"maybe"``, ``2``) counts as true: a typo never grants the owner role.
2. Signed in (``st.login``) with an e-mail on the allow-list, ``owners = ["a@b.c"]`` under
   ``[app]``: owner. E-mails compare exactly after trimming and case-folding; an OIDC
   ``email_verified`` claim that is present and false disqualifies.
3. The local owner, without a sign-in, when all of these hold:

   - ``server.address`` is a loopback address: ``localhost``, ``127.0.0.0/8`` or ``::1``. The
     default, unset, means every interface: anyone on the network can connect, so it is **not**
     loopback and gives no owner. Run ``streamlit run Home.py --server.address localhost`` to be
     the owner on your own machine.
   - The request carries no proxy header (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP`` and the
     like, any case): a reverse proxy or tunnel on the same host makes every visitor's connection
     come from the loopback address, so a loopback bind alone is no proof.
   - Its ``Host`` header, when there is one, names a loopback host: a page on another site that
     resolves its own name to 127.0.0.1 (DNS rebinding) reaches the server from the owner's own
     browser, but under its own name. There is no ``Host`` only without an HTTP request (AppTest).
   - The client address, when known, is a loopback address (Streamlit reports none for localhost).

   A tunnel that adds no header (``ssh -L``, ``socat``) still passes your owner role to whoever
   uses it: set ``FER_APP_PUBLIC=1`` when you share the app that way.
4. Everyone else: visitor.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PUBLIC_ENV = "FER_APP_PUBLIC"
"""Environment variable that forces the visitor role for everyone when true."""

PROXY_HEADERS: frozenset[str] = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "x-client-ip",
        "x-original-forwarded-for",
        "true-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "via",
    }
)
"""Request headers (lower case) that mean the request came through a proxy."""

_FALSE = frozenset({"", "0", "false", "no", "off"})


class Role(str, enum.Enum):
    """What a person may do: a visitor analyses and reads; the owner also trains and manages data."""

    VISITOR = "visitor"
    OWNER = "owner"


@dataclass(frozen=True)
class Identity:
    """The role of the person behind a session, and how it was decided.

    Attributes:
        role: :attr:`Role.OWNER` or :attr:`Role.VISITOR`.
        how: why, in words the sidebar can show: ``"local"``, ``"signed in as a@b.c"``,
            ``"public deployment"``, ``"signed in as a@b.c, not an owner"``, ``"not signed in"``.
        email: the signed-in e-mail, if any.
    """

    role: Role
    how: str
    email: str | None = None

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    @property
    def label(self) -> str:
        """One line for the sidebar, e.g. ``Owner (local)`` or ``Visitor (public deployment)``."""
        return f"{self.role.value.capitalize()} ({self.how})"


def is_loopback_address(address: str | None) -> bool:
    """``True`` for ``localhost``, ``127.0.0.0/8`` and ``::1`` (also ``[::1]`` and IPv4-mapped).

    Unset or empty (Streamlit's default: every interface) and any other name are ``False``: names
    are never resolved.
    """
    if address is None:
        return False
    text = str(address).strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _host_name(host: str) -> str:
    """The host part of a ``Host`` header: ``localhost:8501`` -> ``localhost``, ``[::1]:8501`` -> ``::1``."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def parse_flag(value: Any) -> bool:
    """A true/false setting from the environment or secrets; anything unclear counts as ``True``.

    Used only for settings where ``True`` is the safe side (``public``).
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _FALSE:
        return False
    return True  # "1", "true", ... and anything malformed


def _section(secrets: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    value = secrets.get(name) if isinstance(secrets, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def owner_emails(secrets: Mapping[str, Any] | None) -> frozenset[str]:
    """The allow-list ``[app] owners``, case-folded; malformed entries are left out.

    A single string is taken as one address (never as a list of characters).
    """
    owners = _section(secrets, "app").get("owners")
    if isinstance(owners, str):
        owners = [owners]
    if not isinstance(owners, Iterable) or isinstance(owners, Mapping):
        return frozenset()
    return frozenset(o.strip().casefold() for o in owners if isinstance(o, str) and "@" in o.strip())


def is_public(*, env: Mapping[str, str], secrets: Mapping[str, Any] | None) -> bool:
    """``FER_APP_PUBLIC`` in the environment, or ``[app] public`` in the secrets, is true."""
    if PUBLIC_ENV in env and parse_flag(env[PUBLIC_ENV]):
        return True
    app = _section(secrets, "app")
    return "public" in app and parse_flag(app["public"])


def has_proxy_header(headers: Mapping[str, str] | None) -> bool:
    """Any of :data:`PROXY_HEADERS`, in any case."""
    return any(str(name).strip().lower() in PROXY_HEADERS for name in (headers or {}))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).strip().lower() == name:
            return str(value)
    return None


def is_local_request(
    *, server_address: str | None, headers: Mapping[str, str] | None, client_ip: str | None = None
) -> bool:
    """The request provably comes from the machine the server runs on (rule 3 of the module doc).

    ``headers=None`` (they could not be read) is no proof.
    """
    if not is_loopback_address(server_address) or headers is None or has_proxy_header(headers):
        return False
    host = _header(headers, "host")
    if host is not None and not is_loopback_address(_host_name(host)):
        return False
    return client_ip is None or is_loopback_address(client_ip)


def _signed_in_email(user: Mapping[str, Any] | None) -> str | None:
    if not isinstance(user, Mapping) or user.get("is_logged_in") is not True:
        return None
    email = user.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    return email.strip()


def resolve_role(
    *,
    server_address: str | None,
    headers: Mapping[str, str] | None,
    env: Mapping[str, str],
    secrets: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
    client_ip: str | None = None,
) -> Identity:
    """Decide the role of one session (rules in the module docstring).

    Args:
        server_address: ``server.address`` (``None`` or ``""``: unset, every interface).
        headers: the request headers (``st.context.headers``); ``None`` when unreadable.
        env: the environment (``os.environ``).
        secrets: the secrets as a plain mapping (``{}`` without a secrets file).
        user: ``st.user`` as a mapping: ``is_logged_in``, ``email`` and the other OIDC claims.
        client_ip: ``st.context.ip_address``, when known.
    """
    email = _signed_in_email(user)
    if is_public(env=env, secrets=secrets):
        return Identity(Role.VISITOR, "public deployment", email)
    if email is not None and email.casefold() in owner_emails(secrets) and user.get("email_verified") is not False:
        return Identity(Role.OWNER, f"signed in as {email}", email)
    if is_local_request(server_address=server_address, headers=headers, client_ip=client_ip):
        return Identity(Role.OWNER, "local", email)
    if email is not None:
        return Identity(Role.VISITOR, f"signed in as {email}, not an owner", email)
    return Identity(Role.VISITOR, "not signed in")


def read_secrets() -> Mapping[str, Any]:
    """``st.secrets`` as a plain dict; ``{}`` when there is no secrets file or it cannot be parsed.

    Streamlit itself treats a malformed file as missing (and logs it at start-up); so does this.
    """
    import streamlit as st  # noqa: PLC0415

    try:
        if not st.secrets.load_if_toml_exists():
            return {}
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - any failure to read secrets means "no secrets", never a crash
        return {}


def _user_mapping() -> Mapping[str, Any] | None:
    import streamlit as st  # noqa: PLC0415

    try:
        user = st.user
        claims = dict(user.to_dict())
        claims["is_logged_in"] = bool(user.is_logged_in)
        return claims
    except Exception:  # noqa: BLE001 - no auth configured or no session: not signed in
        return None


def current_identity() -> Identity:
    """The :class:`Identity` of the current Streamlit session; what pages and ``Home.py`` call."""
    import streamlit as st  # noqa: PLC0415

    try:
        headers: Mapping[str, str] | None = dict(st.context.headers)
    except Exception:  # noqa: BLE001 - unreadable headers are no proof of a local request
        headers = None
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001
        address = None
    # Only a real address counts: AppTest's stand-in runtime answers with a mock object.
    client_ip = address if isinstance(address, str) else None
    return resolve_role(
        server_address=st.get_option("server.address"),
        headers=headers,
        env=os.environ,
        secrets=read_secrets(),
        user=_user_mapping(),
        client_ip=client_ip,
    )
