"""Reading HTML form posts (application/x-www-form-urlencoded) without extra dependencies.

The forms are small, so the body is capped; anything else is refused with a clear reason.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 210  # a list page's selection (page_size at most 200) and a few more


class FormError(Exception):
    """The request body is not a form this app accepts."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError(415, "forms must be sent as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise FormError(413, f"the form is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise FormError(413, f"the form is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise FormError(400, "the form is not UTF-8 text") from None
    except ValueError:
        raise FormError(400, f"the form has more than {MAX_FIELDS} fields") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise FormError(400, f"the field {name!r} is sent more than once")
        form[name] = value
    return form
