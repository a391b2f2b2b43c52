"""Signed user tokens: how the shop's own site tells the assistant who the shopper is.

The assistant never trusts a bare user id from a browser: anyone could type another customer's id and read
what that customer viewed or bought. The shop's server, which knows who is signed in, signs the id with a
secret it shares with the assistant (`--user-secret` / `SHOP_USER_SECRET`) and hands the token to the page
(the widget's iframe URL `?user_token=...`, or the `X-User-Token` header / `user_token` field of API calls):

    token = sign_user_token("u00042", secret, ttl=3600)     # on the shop's server
    verify_user_token(token, secret)                        # in the assistant -> "u00042", or InvalidToken

Format: `base64url(user id) "." expiry (unix seconds) "." hex HMAC-SHA256(secret, the first two parts)`, so a
shop can mint it in any language; `python -m assistant.serving.usertoken --secret S --user u00042` prints one.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import time

MAX_TTL = 7 * 24 * 3600  # a token valid for longer is refused: a leaked one must not work for months
MAX_TOKEN_CHARS = 600


class InvalidToken(ValueError):
    """The token is malformed, expired, too long-lived or not signed with this shop's secret."""


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).hexdigest()


def sign_user_token(user_id: str, secret: str, ttl: int = 3600, now: float | None = None) -> str:
    if not secret:
        raise ValueError("a user secret is needed to sign tokens")
    if not user_id:
        raise ValueError("user_id must not be empty")
    encoded = base64.urlsafe_b64encode(user_id.encode("utf-8")).decode("ascii").rstrip("=")
    payload = f"{encoded}.{int((time.time() if now is None else now) + ttl)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_user_token(token: str, secret: str, now: float | None = None) -> str:
    """The user id the token was signed for; InvalidToken says why not."""
    if not secret:
        raise InvalidToken("this shop does not accept user tokens (no user secret is configured)")
    # ASCII only (base64url, digits, hex): anything else is not a token, and could not be encoded to check it.
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 2:
        raise InvalidToken("malformed user token")
    encoded, expiry, signature = token.split(".")
    if not hmac.compare_digest(signature.encode("ascii"), _signature(secret, f"{encoded}.{expiry}").encode("ascii")):
        raise InvalidToken("user token signature does not match")
    if not expiry.isdigit():
        raise InvalidToken("malformed user token expiry")
    now = time.time() if now is None else now
    if int(expiry) < now:
        raise InvalidToken("user token has expired")
    if int(expiry) > now + MAX_TTL:
        raise InvalidToken(f"user token is valid for longer than {MAX_TTL // 86400} days")
    try:
        user_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidToken("malformed user id in token") from None
    if not user_id:
        raise InvalidToken("empty user id in token")
    return user_id


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Print a signed user token (for testing a shop's integration).")
    p.add_argument("--secret", required=True, help="the shop's user secret (SHOP_USER_SECRET)")
    p.add_argument("--user", required=True, help="the user id")
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    args = p.parse_args(argv)
    print(sign_user_token(args.user, args.secret, ttl=args.ttl))


if __name__ == "__main__":
    main()
