"""Where the webcam page's WebRTC ICE (STUN/TURN) servers come from.

Order of precedence, first match wins:

1. ``[webrtc] ice_servers = [...]`` in ``.streamlit/secrets.toml``: your own STUN/TURN servers.
2. Twilio credentials, ``[twilio] account_sid`` / ``auth_token`` in the secrets or the
   ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN`` environment variables: short-lived TURN
   credentials are fetched from Twilio's Network Traversal Service (no extra package needed).
3. A Hugging Face token, ``[huggingface] token`` in the secrets or ``HF_TOKEN`` in the environment:
   TURN credentials from Hugging Face's free TURN service, through streamlit-webrtc's own helper.
4. Nothing: an explicit empty list. Browser and server then only try their own addresses, which
   works on one machine or one local network, and sends nothing to outside servers (streamlit-webrtc
   would fill in Twilio, ``HF_TOKEN`` or a public STUN server whenever ``iceServers`` is absent, so
   it is never left out). Streamlit Community Cloud needs a TURN server (1, 2 or 3).

Twilio is fetched here rather than through streamlit-webrtc's ``get_twilio_ice_servers``: that
helper needs the ``twilio`` SDK for one HTTPS request.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TWILIO_TOKENS_URL = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Tokens.json"
TWILIO_TTL_S = 3600


@dataclass(frozen=True)
class IceSettings:
    """Where ICE servers should come from, read from secrets and environment (nothing fetched yet).

    ``source`` is ``"secrets"``, ``"twilio"``, ``"huggingface"`` or ``"none"``.
    """

    source: str
    servers: tuple[dict[str, Any], ...] = ()
    twilio_sid: str | None = None
    twilio_token: str | None = None
    problem: str | None = None
    hf_token: str | None = None

    def describe(self) -> str:
        """One line for the page: where the ICE servers come from."""
        if self.source == "secrets":
            return f"{len(self.servers)} ICE server(s) from secrets ([webrtc] ice_servers)"
        if self.source == "twilio":
            return "TURN servers from Twilio (credentials in secrets or environment)"
        if self.source == "huggingface":
            return "TURN servers from Hugging Face (token in secrets or HF_TOKEN)"
        return "no STUN/TURN server configured: works on this machine or local network only"


def _clean_server(entry: Any, index: int) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"[webrtc] ice_servers[{index}] must be a table with 'urls', got {type(entry).__name__}")
    urls = entry.get("urls", entry.get("url"))
    if isinstance(urls, str):
        urls = [urls]
    schemes = ("stun", "stuns", "turn", "turns")
    if not urls or not all(isinstance(u, str) and u.split(":", 1)[0] in schemes for u in urls):
        raise ValueError(
            f"[webrtc] ice_servers[{index}].urls must be stun:/turn: URLs, e.g. \"turn:turn.example.com:3478\"; "
            f"got {urls!r}"
        )
    server: dict[str, Any] = {"urls": list(urls)}
    for key in ("username", "credential"):
        if entry.get(key) is not None:
            server[key] = str(entry[key])
    return server


def read_ice_settings(secrets: Mapping[str, Any], env: Mapping[str, str]) -> IceSettings:
    """Decide where ICE servers come from (see the module docstring for the order).

    Raises:
        ValueError: ``[webrtc] ice_servers`` is present but malformed (the message says how).
    """
    webrtc = secrets.get("webrtc") or {}
    servers = webrtc.get("ice_servers") if isinstance(webrtc, Mapping) else None
    if servers:
        if isinstance(servers, Mapping):
            servers = [servers]
        return IceSettings("secrets", tuple(_clean_server(s, i) for i, s in enumerate(servers)))
    twilio = secrets.get("twilio") or {}
    sid = (twilio.get("account_sid") if isinstance(twilio, Mapping) else None) or env.get("TWILIO_ACCOUNT_SID")
    token = (twilio.get("auth_token") if isinstance(twilio, Mapping) else None) or env.get("TWILIO_AUTH_TOKEN")
    if sid and token:
        return IceSettings("twilio", twilio_sid=str(sid), twilio_token=str(token))
    if sid or token:
        missing = "auth_token (TWILIO_AUTH_TOKEN)" if sid else "account_sid (TWILIO_ACCOUNT_SID)"
        return IceSettings("none", problem=f"Twilio is half configured: {missing} is missing")
    huggingface = secrets.get("huggingface") or {}
    hf_token = (huggingface.get("token") if isinstance(huggingface, Mapping) else None) or env.get("HF_TOKEN")
    if hf_token:
        return IceSettings("huggingface", hf_token=str(hf_token))
    return IceSettings("none")


def resolve_ice_servers(
    settings: IceSettings,
    *,
    twilio: Callable[[str, str], list[dict[str, Any]]],
    huggingface: Callable[[str], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], str | None]:
    """``(ICE servers, warning)`` for ``settings``: fetched from Twilio or Hugging Face when they are the source.

    A failed fetch gives no servers and a warning the page shows; the webcam may then not connect.
    """
    try:
        if settings.source == "twilio":
            return twilio(str(settings.twilio_sid), str(settings.twilio_token)), None
        if settings.source == "huggingface":
            return [_clean_server(s, i) for i, s in enumerate(huggingface(str(settings.hf_token)))], None
    except Exception as exc:  # noqa: BLE001 - any failure to fetch credentials is the same to the user
        return [], f"{exc}. Live video may not connect; Snapshots still work"
    return list(settings.servers), None


def fetch_twilio_ice_servers(
    account_sid: str,
    auth_token: str,
    *,
    ttl_s: int = TWILIO_TTL_S,
    urlopen: Callable[..., Any] = urllib.request.urlopen,
    timeout_s: float = 10.0,
) -> list[dict[str, Any]]:
    """Create a Twilio Network Traversal token and return its ICE servers (STUN + TURN).

    Raises:
        ValueError: Twilio refused the credentials or could not be reached (the message says which).
    """
    request = urllib.request.Request(
        TWILIO_TOKENS_URL.format(sid=urllib.parse.quote(account_sid, safe="")),
        data=urllib.parse.urlencode({"Ttl": str(int(ttl_s))}).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = " (check account_sid and auth_token)" if exc.code in (401, 403, 404) else ""
        raise ValueError(f"Twilio refused the TURN token request: HTTP {exc.code}{hint}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ValueError(f"cannot reach Twilio for TURN credentials: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"Twilio sent an unreadable answer: {exc}") from exc
    servers = body.get("ice_servers") if isinstance(body, Mapping) else None
    if not servers:
        raise ValueError("Twilio's answer holds no ice_servers")
    return [_clean_server(s, i) for i, s in enumerate(servers)]


def rtc_configuration(servers: Any) -> dict[str, Any]:
    """The ``RTCConfiguration`` dict for ``webrtc_streamer``; an explicit empty list means "no servers"."""
    return {"iceServers": [dict(s) for s in servers]}
