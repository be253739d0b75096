"""Telegram Mini App init data, signed the way Telegram signs it, for simulated users.

Telegram gives a Mini App opened from a `web_app` button a query string (`initData`) with the
user, `auth_date` and a `hash`: HMAC-SHA256 over the sorted `key=value` lines, keyed with
HMAC-SHA256("WebAppData", bot token). The emulator signs it for its users so tests can open
the staff dashboard as a given person, at a given time, or with a wrong token (a forgery).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode


def sign_init_data(token: str, user: dict[str, Any], auth_date: datetime | None = None, **extra: str) -> str:
    fields = {"auth_date": str(int((auth_date or datetime.now(timezone.utc)).timestamp())),
              "query_id": "AAE-sandbox", "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
              **extra}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def user_fields(user: Any) -> dict[str, Any]:
    """The `user` object of init data for a simulated user (or anything with the same attributes)."""
    out: dict[str, Any] = {"id": user.id, "first_name": user.first_name}
    for name in ("last_name", "username", "language_code"):
        value = getattr(user, name, None)
        if value:
            out[name] = value
    return out
