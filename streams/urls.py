"""Source URL helpers: the one credential masking for logs, reports and API responses.

Masking reads a URL the way FFmpeg does (libavformat's ``av_url_split``): the authority runs from
``scheme://`` to the first ``/``, ``?`` or ``#``, and the userinfo is the authority up to its **last**
``@``. A camera password may hold ``@`` (``rtsp://admin:p@ss@cam/1``): FFmpeg sends ``p@ss`` as the
password, so that whole part is what gets hidden. Values of password-like query parameters
(``?user=admin&password=...``, as some HTTP cameras take them) are hidden too.

Standard library only: the API imports this module (api/ imports no other part of streams/).
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}``: a reference to an environment variable, as a configuration keeps a secret out of the file."""
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# In free text (an FFmpeg error quoting the URL) the authority also ends at white space or a quote.
# The greedy run backtracks to the authority's last "@", as FFmpeg splits it.
_USERINFO = re.compile(rf"(?P<scheme>{_SCHEME})(?P<userinfo>[^/?#\s'\"<>]*)@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:password|passwd|pass|pwd|token|access_token|auth|secret|signature|sig|api_?key|key)=)"
    r"[^&;#\s'\"<>]*",
    re.IGNORECASE,
)


def _mask_userinfo(m: re.Match[str]) -> str:
    user, colon, _password = m.group("userinfo").partition(":")
    return f"{m.group('scheme')}{user}:{MASK}@" if colon else m.group(0)


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it (and password-like query values) replaced by ``***``;
    user names are kept."""
    text = _USERINFO.sub(_mask_userinfo, text)
    return _SECRET_PARAM.sub(lambda m: m.group("name") + MASK, text)


def mask_url(url: str) -> str:
    """One URL with its password masked: ``rtsp://admin:***@cam/1``."""
    return mask_text(url)


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo, split as FFmpeg splits it; None when it has none."""
    m = _USERINFO.match(url)
    if m is None:
        return None
    _user, colon, password = m.group("userinfo").partition(":")
    return password if colon else None


def replace_password(url: str, password: str) -> str:
    """``url`` with the password of its userinfo replaced and the user kept; unchanged when it has none."""
    m = _USERINFO.match(url)
    user, colon, _old = m.group("userinfo").partition(":") if m is not None else ("", "", "")
    return f"{m.group('scheme')}{user}:{password}@{url[m.end():]}" if m is not None and colon else url


def mask_credentials(value: Any) -> Any:
    """Every string inside ``value`` (dicts and lists walked) masked by :func:`mask_text`."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_credentials(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_credentials(v) for v in value]
    return value


def is_network_url(url: str) -> bool:
    return bool(re.match(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", url, re.I))
