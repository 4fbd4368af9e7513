"""How a downloaded attachment is presented: inline (the four checked image types) or as a file
to save (everything else, so a browser never renders an uploaded document in our origin), and the
RFC 6266 `Content-Disposition` that names it."""

from __future__ import annotations

from urllib.parse import quote

from .images import IMAGE_TYPES


def is_inline(content_type: str) -> bool:
    """Only images whose bytes were checked against their type are shown in place."""
    return content_type in IMAGE_TYPES


def content_disposition(name: str, content_type: str) -> str:
    """`inline` or `attachment`, with the name as an ASCII fallback and as UTF-8 (`filename*`)."""
    kind = "inline" if is_inline(content_type) else "attachment"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
