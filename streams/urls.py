"""Source URL helpers: credential masking for logs and API responses."""
from __future__ import annotations

import re

_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/]*)(?::(?P<pw>[^@/]*))?@")


def mask_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with ``***`` (user kept)."""
    m = _USERINFO.match(url)
    if not m or m.group("pw") is None:
        return url
    return f"{m.group('scheme')}{m.group('user')}:***@{url[m.end():]}"


def is_network_url(url: str) -> bool:
    return bool(re.match(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", url, re.I))
