"""The web application: request handling shared by every page, and the app factory.

Every page goes through `page()`, which opens the database, resolves the session and, for a
POST, reads the form and refuses it without the session's CSRF token. A route cannot skip the
check: POST routes are only ever built by `page(..., form=True)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathlab import accounts, sessions
from pathlab.accounts import User
from pathlab.db import open_database
from pathlab.forms import FormError, read_form
from pathlab.model_link import ModelLink
from pathlab.settings import Settings

PACKAGE_DIR = Path(__file__).parent
APP_NAME = "Pathology lab case desk"

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the security headers to every response; pages with patient data are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Ctx:
    """What a page handler gets: the request, its database connection, session and form."""

    request: Request
    conn: sqlite3.Connection
    settings: Settings
    session: sessions.Session | None
    user: User | None
    form: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None  # a session token to set on the response
    clear_cookie: bool = False

    def new_session(self, user_id: int | None = None) -> sessions.Session:
        """Replace the current session (at sign-in: the old token opens nothing afterwards)."""
        if self.session is not None:
            sessions.destroy(self.conn, self.session.token)
        self.session = sessions.create(self.conn, user_id)
        self.cookie = self.session.token
        return self.session

    def end_session(self) -> None:
        if self.session is not None:
            sessions.destroy(self.conn, self.session.token)
        self.session, self.user, self.clear_cookie = None, None, True

    @property
    def model(self) -> ModelLink:
        link: ModelLink = self.request.app.state.model_link
        return link

    def flash(self, message: str) -> None:
        if self.session is not None:
            sessions.set_flash(self.conn, self.session, message)

    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> Response:
        flash = None
        if self.session is not None and self.session.flash:
            flash = self.session.flash
            sessions.set_flash(self.conn, self.session, None)
        templates: Jinja2Templates = self.request.app.state.templates
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "app_name": APP_NAME,
                "user": self.user,
                "csrf_token": self.session.csrf_token if self.session else "",
                "flash": flash,
                **context,
            },
            status_code=status,
            headers=headers,
        )


Handler = Callable[[Ctx], Response]


def page(handler: Handler, *, form: bool = False, signed_in: bool = True) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        data = await read_form(request) if form else {}
        return await run_in_threadpool(_handle, handler, request, data, form, signed_in)

    endpoint.__name__ = handler.__name__
    return endpoint


def _handle(handler: Handler, request: Request, data: dict[str, str], form: bool, signed_in: bool) -> Response:
    settings: Settings = request.app.state.settings
    conn = open_database(settings.database.path)
    try:
        session = sessions.load(conn, request.cookies.get(settings.session.cookie_name), settings.session)
        user = accounts.get_user(conn, session.user_id) if session and session.user_id is not None else None
        ctx = Ctx(request, conn, settings, session, user, data)
        if form and (not _same_origin(request) or not sessions.csrf_valid(session, data.get(sessions.CSRF_FIELD))):
            response = _csrf_refused(ctx)
        elif signed_in and user is None:
            if form:
                response = _csrf_refused(ctx)
            else:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            try:
                response = handler(ctx)
            except HTTPException as exc:
                response = _page_error(ctx, exc)
        _apply_cookie(ctx, response, settings)
        return response
    finally:
        conn.close()


def _same_origin(request: Request) -> bool:
    """A browser names the page a POST comes from; it must be this app's own."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by every client; the CSRF token is still required
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


def _csrf_refused(ctx: Ctx) -> Response:
    return ctx.render(
        "error.html",
        status=403,
        title="Form refused",
        message="This form was not accepted: it did not come from a page of this app in your current session "
        "(it may have been open too long). Go back, reload the page and send it again.",
    )


def _apply_cookie(ctx: Ctx, response: Response, settings: Settings) -> None:
    cookie = settings.session
    if ctx.cookie is not None:
        response.set_cookie(
            cookie.cookie_name,
            ctx.cookie,
            max_age=cookie.absolute_hours * 3600,
            httponly=True,
            samesite="lax",
            secure=cookie.secure_cookie,
            path="/",
        )
    elif ctx.clear_cookie:
        response.delete_cookie(cookie.cookie_name, httponly=True, samesite="lax", secure=cookie.secure_cookie, path="/")


def safe_next(target: str | None) -> str:
    """Only a path of this app: never another site, so sign-in cannot be turned into a redirector."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _wants_problem_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _error_response(
    request: Request, status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if _wants_problem_json(request):
        return JSONResponse(
            {"type": "about:blank", "title": title, "status": status, "detail": message},
            status_code=status,
            media_type="application/problem+json",
            headers=headers,
        )
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"app_name": APP_NAME, "user": None, "csrf_token": "", "flash": None, "title": title, "message": message},
        status_code=status,
        headers=headers,
    )


_TITLES = {404: "Page not found", 405: "Method not allowed"}
_MESSAGES = {
    404: "There is no page at this address. Check it, or start again from the list of cases.",
    405: "This address does not accept that kind of request.",
}


def _words(exc: HTTPException) -> tuple[str, str]:
    title = _TITLES.get(exc.status_code, "Request refused")
    # Starlette's default detail is the status phrase: replace it with words for people
    default = HTTPStatus(exc.status_code).phrase
    return title, str(_MESSAGES.get(exc.status_code, default) if exc.detail == default else exc.detail)


def _page_error(ctx: Ctx, exc: HTTPException) -> Response:
    """An error met by a page handler: shown inside the signed-in layout, with its navigation."""
    title, message = _words(exc)
    headers = dict(exc.headers or {})
    if _wants_problem_json(ctx.request):
        return _error_response(ctx.request, exc.status_code, title, message, headers)
    return ctx.render("error.html", status=exc.status_code, headers=headers, title=title, message=message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title, message = _words(exc)
    return _error_response(request, exc.status_code, title, message, dict(exc.headers or {}))


async def _form_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormError)
    return _error_response(request, exc.status, "Form refused", f"This form was not accepted: {exc.message}.")


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error_response(
        request,
        500,
        "Something went wrong",
        "The app could not complete this request. Try again; if it fails again, "
        "tell the lab's IT support the time it happened.",
    )


def create_app(settings: Settings, extra_routes: Iterable[BaseRoute] = ()) -> Starlette:
    from pathlab import routes

    link = ModelLink(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await link.start()
        try:
            yield
        finally:
            await link.stop()

    app = Starlette(
        lifespan=lifespan,
        routes=[*routes.ROUTES, *extra_routes, Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"))],
        exception_handlers={HTTPException: _http_error, FormError: _form_error, Exception: _server_error},
    )
    app.state.settings = settings
    app.state.model_link = link
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
    )
    app.state.templates = Jinja2Templates(env=env)
    app.add_middleware(SecurityHeaders)
    return app
