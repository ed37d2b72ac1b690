"""Where a ``next`` parameter may send the user: back into this site, never elsewhere."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, target: str | None, fallback: str | None = None) -> str | None:
    """``target`` when it points into this site (a path, or a URL on this host; not
    ``//other.example`` nor ``javascript:``), else ``fallback``."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
