"""app.identity.resolve_role on plain values: who is the owner, and every way the rule says no."""

from __future__ import annotations

from typing import Any

import pytest

from app.identity import Identity, Role, is_loopback_address, owner_emails, parse_flag, resolve_role

OWNERS = {"app": {"owners": ["Owner@Example.com"]}}
LOCAL_HEADERS = {"Host": "localhost:8501", "User-Agent": "test"}


def signed_in(email: str, **claims: Any) -> dict[str, Any]:
    return {"is_logged_in": True, "email": email, **claims}


def role(
    *,
    server_address: str | None = "localhost",
    headers: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    secrets: Any = None,
    user: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> Identity:
    return resolve_role(
        server_address=server_address,
        headers=LOCAL_HEADERS if headers is None else headers,
        env=env or {},
        secrets={} if secrets is None else secrets,
        user=user,
        client_ip=client_ip,
    )


@pytest.mark.parametrize(
    "address", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"]
)
def test_loopback_addresses(address: str) -> None:
    assert is_loopback_address(address)


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "myhost", "localhost.example.com", "128.0.0.1"]
)
def test_not_loopback(address: str | None) -> None:
    assert not is_loopback_address(address)


def test_local_is_owner() -> None:
    identity = role()
    assert identity == Identity(Role.OWNER, "local")
    assert identity.is_owner and identity.label == "Owner (local)"


def test_no_request_headers_on_loopback_is_owner() -> None:
    # Only without an HTTP request (AppTest): every real request has a Host header.
    assert role(headers={}).is_owner


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "192.168.1.10"])
def test_unset_or_public_bind_is_visitor(address: str | None) -> None:
    identity = role(server_address=address)
    assert identity == Identity(Role.VISITOR, "not signed in")
    assert identity.label == "Visitor (not signed in)"


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "x-forwarded-for", "FORWARDED", "Forwarded", "X-Real-IP", "x-real-ip", "Via",
     "CF-Connecting-IP"],
)
def test_proxied_request_on_loopback_is_visitor(header: str) -> None:
    assert role(headers={**LOCAL_HEADERS, header: "203.0.113.7"}).role is Role.VISITOR


def test_rebound_host_name_is_visitor() -> None:
    assert role(headers={"Host": "attacker.example:8501"}).role is Role.VISITOR
    assert role(headers={"Host": "127.0.0.1:8501"}).is_owner
    assert role(headers={"Host": "[::1]:8501"}).is_owner


def test_unreadable_headers_are_no_proof() -> None:
    identity = resolve_role(server_address="localhost", headers=None, env={}, secrets={}, user=None)
    assert identity.role is Role.VISITOR


def test_remote_client_address_is_visitor() -> None:
    assert role(client_ip="192.168.1.20").role is Role.VISITOR
    assert role(client_ip="127.0.0.1").is_owner


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " 1 ", "maybe", "2"])
def test_public_env_forces_visitor_even_when_local(value: str) -> None:
    assert role(env={"FER_APP_PUBLIC": value}) == Identity(Role.VISITOR, "public deployment")


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_public_env_false_keeps_local_owner(value: str) -> None:
    assert role(env={"FER_APP_PUBLIC": value}).is_owner


def test_public_forces_visitor_even_when_signed_in_and_allow_listed() -> None:
    user = signed_in("owner@example.com")
    assert role(env={"FER_APP_PUBLIC": "1"}, secrets=OWNERS, user=user) == Identity(
        Role.VISITOR, "public deployment", "owner@example.com"
    )
    secrets = {"app": {"owners": ["owner@example.com"], "public": True}}
    assert role(secrets=secrets, user=user).role is Role.VISITOR
    assert role(secrets={"app": {"public": "true"}}).role is Role.VISITOR
    assert role(secrets={"app": {"public": False}}).is_owner


def test_allow_listed_sign_in_is_owner_anywhere() -> None:
    identity = role(server_address=None, headers={"X-Forwarded-For": "203.0.113.7"}, secrets=OWNERS,
                    user=signed_in("owner@EXAMPLE.com"))  # fmt: skip
    assert identity == Identity(Role.OWNER, "signed in as owner@EXAMPLE.com", "owner@EXAMPLE.com")
    assert identity.label == "Owner (signed in as owner@EXAMPLE.com)"


@pytest.mark.parametrize(
    "user",
    [
        signed_in("someone@example.com"),
        signed_in("owner@example.com.evil"),
        signed_in("xowner@example.com"),
        signed_in("owner@example.com", email_verified=False),
        {"is_logged_in": False, "email": "owner@example.com"},
        {"is_logged_in": "yes", "email": "owner@example.com"},
        {"is_logged_in": True, "email": ""},
        {"is_logged_in": True},
    ],
)
def test_not_allow_listed_is_visitor(user: dict[str, Any]) -> None:
    assert role(server_address=None, secrets=OWNERS, user=user).role is Role.VISITOR


def test_signed_in_but_not_an_owner_says_so() -> None:
    identity = role(server_address=None, secrets=OWNERS, user=signed_in("someone@example.com"))
    assert identity == Identity(Role.VISITOR, "signed in as someone@example.com, not an owner", "someone@example.com")


@pytest.mark.parametrize(
    "secrets",
    [
        {"app": "owner@example.com"},  # [app] not a table
        {"app": {"owners": 42}},
        {"app": {"owners": {"owner@example.com": True}}},
        {"app": {"owners": [None, 3, "", "not-an-email"]}},
        {"owners": ["owner@example.com"]},  # not under [app]
        "not a mapping",
        {},
    ],
)
def test_malformed_secrets_grant_no_one(secrets: Any) -> None:
    assert role(server_address=None, secrets=secrets, user=signed_in("owner@example.com")).role is Role.VISITOR


def test_owners_as_a_single_string_is_one_address() -> None:
    assert owner_emails({"app": {"owners": " Owner@Example.com "}}) == {"owner@example.com"}
    assert owner_emails({"app": {"owners": "ab"}}) == set()


def test_parse_flag_counts_anything_unclear_as_true() -> None:
    assert parse_flag(True) and parse_flag("1") and parse_flag("garbage") and parse_flag(7)
    assert not parse_flag(False) and not parse_flag("0") and not parse_flag(" Off ") and not parse_flag("")


def test_current_identity_outside_a_server_is_a_visitor(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bare mode: no secrets file, no request, no sign-in, server.address unset; nothing crashes.
    from app.identity import current_identity

    monkeypatch.chdir("/")
    monkeypatch.delenv("FER_APP_PUBLIC", raising=False)
    assert current_identity().role is Role.VISITOR
