"""The server certificate's validity, checked at start: an expired certificate (or one not yet
valid) is refused with its dates, one that expires within `EXPIRY_WARNING_DAYS` is logged as a
warning with the days left. Every client would otherwise fail its handshake with no word in the
server's log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import structlog

from healthscore.errors import InvalidInputError, Violation

log = structlog.get_logger("healthscore.server")

EXPIRY_WARNING_DAYS = 30


def check_certificate(path: Path, now: dt.datetime | None = None) -> None:
    """InvalidInputError (naming `tls_cert`) if the first certificate of the PEM chain at `path`
    is not valid now; a warning if it expires within `EXPIRY_WARNING_DAYS` days."""
    from cryptography import x509

    now = now or dt.datetime.now(dt.UTC)
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"{path}: not a readable PEM certificate: {exc}",
            [Violation("tls_cert", f"not a readable PEM certificate: {exc}")],
        ) from exc
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    problem = None
    if now >= not_after:
        problem = f"expired on {not_after:%Y-%m-%d %H:%M:%SZ}"
    elif now < not_before:
        problem = f"not valid before {not_before:%Y-%m-%d %H:%M:%SZ}"
    if problem is not None:
        raise InvalidInputError(
            f"TLS certificate {path} {problem}: renew it",
            [Violation("tls_cert", f"{path} {problem}")],
        )
    left = not_after - now
    if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning(
            "tls_certificate_expiring",
            file=str(path),
            not_after=not_after.isoformat(),
            days_left=left.days,
        )
