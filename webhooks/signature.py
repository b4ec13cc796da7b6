"""Checking Jira's webhook signature: `X-Hub-Signature: <method>=<hex>`, an HMAC of the raw body.

Jira signs with the secret given when the webhook was registered; only sha256 is accepted here."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature"
ACCEPTED_METHOD = "sha256"


class SignatureError(Exception):
    """The signature is missing, malformed, of an unsupported method, or wrong. `code` is a stable
    reason for metrics and logs; the message never contains the secret or the signature."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sign(secret: bytes, body: bytes) -> str:
    """The header value Jira would send for this body: `sha256=<hex>`."""
    return f"{ACCEPTED_METHOD}={hmac.new(secret, body, hashlib.sha256).hexdigest()}"


def verify(secret: bytes, header: str | None, body: bytes) -> None:
    """Raise SignatureError unless `header` is a valid sha256 signature of `body` under `secret`."""
    if not header:
        raise SignatureError(
            "signature_missing", f"{SIGNATURE_HEADER} is required: this receiver has a webhook secret"
        )
    method, sep, given = header.strip().partition("=")
    if not sep or not method:
        raise SignatureError(
            "signature_malformed", f"{SIGNATURE_HEADER} must look like sha256=<hex>", status=400
        )
    if method.strip().lower() != ACCEPTED_METHOD:
        # The method is Jira's own choice, not a secret: naming it helps an admin see the mismatch.
        shown = method.strip()[:16]
        raise SignatureError(
            "signature_method",
            f"{SIGNATURE_HEADER} method {shown!r} is not supported: only sha256 is accepted",
            status=400,
        )
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("ascii", "replace")):
        raise SignatureError("signature_mismatch", f"{SIGNATURE_HEADER} does not match the body")
