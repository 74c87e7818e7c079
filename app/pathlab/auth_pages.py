"""Sign-in and sign-out pages."""

from __future__ import annotations

import math

from starlette.responses import RedirectResponse, Response

from pathlab import accounts, audit, sessions, throttle
from pathlab.db import transaction
from pathlab.web import Ctx, safe_next


def sign_in_form(ctx: Ctx) -> Response:
    if ctx.user is not None:
        return RedirectResponse(safe_next(ctx.request.query_params.get("next")), status_code=303)
    if ctx.session is None:
        # a visitor without a session gets one here: the place to drop expired ones too
        sessions.purge_expired(ctx.conn, ctx.settings.session)
        throttle.purge(ctx.conn, ctx.settings.login)
        ctx.new_session()
    signed_out = ctx.request.query_params.get("signed_out") == "1"
    return _render(ctx, status_note="You are signed out." if signed_out else None)


def _render(
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
    status_note: str | None = None,
) -> Response:
    next_path = safe_next(ctx.form.get("next") or ctx.request.query_params.get("next"))
    return ctx.render(
        "login.html",
        status=status,
        headers=headers,
        title=("Error: " if errors else "") + "Sign in",
        errors=errors or {},
        username=username,
        next_path=next_path,
        status_note=status_note,
    )


def sign_in(ctx: Ctx) -> Response:
    username = ctx.form.get("username", "").strip().lower()
    password = ctx.form.get("password", "")
    errors = {}
    if not username:
        errors["username"] = "Enter your username"
    if not password:
        errors["password"] = "Enter your password"
    if errors:
        return _render(ctx, 400, errors, username)
    address = ctx.request.client.host if ctx.request.client else "unknown"
    wait = throttle.retry_after(ctx.conn, username, address, ctx.settings.login)
    if wait is not None:
        minutes = math.ceil(wait / 60)
        message = f"Too many failed sign-ins. Wait {minutes} minute{'s' if minutes != 1 else ''} before trying again"
        return _render(ctx, 429, {"username": message}, username, headers={"Retry-After": str(wait)})
    user = accounts.authenticate(ctx.conn, username, password)
    if user is None:
        with transaction(ctx.conn):
            throttle.record_failure(ctx.conn, username, address)
            audit.record(ctx.conn, actor=username[:64], action="sign-in refused", subject=username[:64])
        return _render(ctx, 401, {"username": "The username or password is not right"}, username)
    with transaction(ctx.conn):
        throttle.clear(ctx.conn, user.username)
        ctx.new_session(user.id)
        audit.record(ctx.conn, actor=user.username, action="signed in", subject=user.username)
    ctx.user = user
    ctx.flash(f"Signed in as {user.display_name}.")
    return RedirectResponse(safe_next(ctx.form.get("next")), status_code=303)


def sign_out(ctx: Ctx) -> Response:
    assert ctx.user is not None
    with transaction(ctx.conn):
        audit.record(ctx.conn, actor=ctx.user.username, action="signed out", subject=ctx.user.username)
        ctx.end_session()
    return RedirectResponse("/login?signed_out=1", status_code=303)
