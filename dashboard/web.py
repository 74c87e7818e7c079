"""The dashboard's web app: sign-in, the page, the fragment its script polls, sign-out.

The page is complete without JavaScript; dashboard.js only polls GET /live for the same
content and swaps it in. Every form POST needs the session's CSRF token and, when the browser
names one, this app's own origin. The session cookie is HttpOnly and SameSite=Strict, Secure
when the request came over https; the service's tokens never leave this process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.api_client import GRANTS, ApiClient, SessionEnded, Tokens, Upstream
from dashboard.sessions import CSRF_FIELD, Session, Sessions, csrf_valid
from dashboard.settings import DashboardSettings
from dashboard.view import build_view, utc

PACKAGE_DIR = Path(__file__).parent
MAX_FORM_BYTES = 8 * 1024
SUMMARY = "/v1/monitoring/summary"
MODEL = "/v1/model"

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser names no origin on a form POST
    # ("null"), and the origin check would refuse the dashboard's own forms.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not scope["path"].startswith(("/static/", "/site/")):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FormRefused(Exception):
    pass


async def read_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise FormRefused("forms must be sent as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused("the form is too large")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("the form is not one this page sends") from None


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not every client names it; the CSRF token is still required
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


class Dashboard:
    """The app's state: settings, templates, sessions and the one API client."""

    def __init__(self, settings: DashboardSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.sessions = Sessions(settings.session_idle_s)
        self.api = ApiClient(settings.api_url, settings.request_timeout_s, transport)
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"), autoescape=True)
        self.templates = Jinja2Templates(env=env)

    # -- cookies and rendering -------------------------------------------------------------
    def session_of(self, request: Request) -> tuple[str | None, Session | None]:
        token = request.cookies.get(self.settings.cookie_name)
        return token, self.sessions.load(token)

    def set_cookie(self, request: Request, response: Response, token: str) -> None:
        secure = self.settings.secure_cookie
        if secure is None:
            secure = request.url.scheme == "https"
        response.set_cookie(self.settings.cookie_name, token, httponly=True, samesite="strict", secure=secure, path="/")

    def render(
        self, request: Request, template: str, session: Session | None, status: int = 200, **ctx: Any
    ) -> Response:
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "api_url": self.settings.api_url,
                "signed_in": bool(session and session.signed_in),
                "principal": session.principal if session else "",
                "csrf_token": session.csrf if session else "",
                "poll": False,
                "errors": {},
                **ctx,
            },
            status_code=status,
        )

    # -- the service, with renewals --------------------------------------------------------
    async def _fresh_tokens(self, session: Session, used: Tokens | None = None) -> Tokens:
        """The session's tokens, renewed first when due (or when `used` was just refused)."""
        async with session.lock:
            tokens = session.tokens
            if tokens is None:
                raise SessionEnded()
            stale = tokens is used or tokens.due(self.settings.renew_before_s, time.time())
            if stale:
                try:
                    tokens = await self.api.refresh(tokens)
                except SessionEnded:
                    session.tokens = None
                    raise
                session.tokens = tokens
            return tokens

    async def read(self, session: Session, path: str) -> dict[str, Any]:
        tokens = await self._fresh_tokens(session)
        try:
            return await self.api.get(path, tokens)
        except SessionEnded:
            # renew once and repeat once (a drifted clock or a dropped key); a second 401 ends it
            tokens = await self._fresh_tokens(session, used=tokens)
            try:
                return await self.api.get(path, tokens)
            except SessionEnded:
                session.tokens = None
                raise

    async def positive_label(self, session: Session, version: str | None) -> str:
        """The model card's name of the positive class, read again when the served version changes."""
        if session.card is None or (version and session.card.get("version") != version):
            try:
                session.card = await self.read(session, MODEL)
            except Upstream:
                return "positive"
        return str(session.card.get("positive_label") or "positive")

    async def content(self, session: Session) -> dict[str, Any]:
        """The template context of the live content: a view of the summary, or the problem."""
        read_at = utc(time.time())
        try:
            summary = await self.read(session, SUMMARY)
        except SessionEnded as exc:
            session.note = f"{exc.title}: {exc.message}"  # for the sign-in page it leads to
            return {
                "problem": exc,
                "state": "signed-out",
                "digest": "signed-out",
                "announcement": exc.title + ".",
                "read_at": read_at,
                "view": None,
            }
        except Upstream as exc:
            return {
                "problem": exc,
                "state": "problem",
                "digest": type(exc).__name__,
                "announcement": exc.title + ".",
                "read_at": read_at,
                "view": None,
            }
        windows = summary.get("windows") or []
        version = windows[-1].get("model_version") if windows else None
        view = build_view(summary, self.settings.docs_url, await self.positive_label(session, version))
        return {
            "problem": None,
            "state": view.status.key,
            "view": view,
            "digest": view.digest,
            "announcement": view.announcement,
            "read_at": read_at,
        }


# -- routes -----------------------------------------------------------------------------------


def _dash(request: Request) -> Dashboard:
    d: Dashboard = request.app.state.dashboard
    return d


async def page(request: Request) -> Response:
    d = _dash(request)
    _, session = d.session_of(request)
    if session is None or not session.signed_in:
        return RedirectResponse("/signin", status_code=303)
    ctx = await d.content(session)
    if ctx["state"] == "signed-out":
        return _signed_out_by_service(request, d, ctx["problem"])
    status = ctx["problem"].status if ctx["problem"] else 200
    return d.render(
        request,
        "dashboard.html",
        session,
        status=status,
        title="Monitoring dashboard",
        poll=True,
        poll_ms=int(d.settings.poll_s * 1000),
        **ctx,
    )


async def live(request: Request) -> Response:
    """The live content alone, for dashboard.js."""
    d = _dash(request)
    _, session = d.session_of(request)
    if session is None or not session.signed_in:
        problem = SessionEnded("This dashboard session ended. Sign in again.")
        ctx: dict[str, Any] = {
            "problem": problem,
            "state": "signed-out",
            "digest": "signed-out",
            "announcement": problem.title + ".",
            "read_at": utc(time.time()),
            "view": None,
        }
    else:
        ctx = await d.content(session)
    status = ctx["problem"].status if ctx["problem"] else 200
    html = d.templates.get_template("_live.html").render(**ctx)
    return HTMLResponse(html, status_code=status)


def _signed_out_by_service(request: Request, d: Dashboard, problem: Upstream) -> Response:
    token, _ = d.session_of(request)
    if token:
        d.sessions.destroy(token)
    new_token, session = d.sessions.create()
    session.note = f"{problem.title}: {problem.message}"
    response = RedirectResponse("/signin", status_code=303)
    d.set_cookie(request, response, new_token)
    return response


async def signin_form(request: Request) -> Response:
    d = _dash(request)
    token, session = d.session_of(request)
    if session is not None and session.signed_in:
        return RedirectResponse("/", status_code=303)
    new_token = None
    if session is None:
        new_token, session = d.sessions.create()
    note, session.note = session.note, None
    response = d.render(request, "signin.html", session, title="Sign in", note=note, kind="service", identifier="")
    if new_token:
        d.set_cookie(request, response, new_token)
    return response


def _refused(request: Request, d: Dashboard, session: Session | None) -> Response:
    return d.render(
        request,
        "message.html",
        session,
        status=403,
        title="Form refused",
        message="This form was not accepted: it did not come from this dashboard's sign-in page in your current "
        "session (the page may have been open too long).",
        link_href="/signin",
        link_text="Open the sign-in page again",
    )


async def _session_form(request: Request, session: Session | None) -> dict[str, str] | None:
    """The posted form, when it is well formed, same-origin and carries the session's CSRF token;
    None otherwise (the caller refuses it)."""
    try:
        form = await read_form(request)
    except FormRefused:
        return None
    if session is None or not same_origin(request) or not csrf_valid(session, form.get(CSRF_FIELD)):
        return None
    return form


async def signin(request: Request) -> Response:
    d = _dash(request)
    _, session = d.session_of(request)
    form = await _session_form(request, session)
    if form is None:
        return _refused(request, d, session)
    kind = form.get("kind", "service")
    identifier = form.get("identifier", "").strip()
    secret = form.get("secret", "")
    errors = {}
    if kind not in GRANTS:
        kind = "service"
    if not identifier:
        errors["identifier"] = "Enter the client id or the username."
    if not secret:
        errors["secret"] = "Enter the secret or the password."
    problem: Upstream | None = None
    if errors:
        problem = Upstream("Fill in both fields, then sign in.")
        problem.title = "There is a problem"
    else:
        try:
            tokens = await d.api.sign_in(kind, identifier, secret)
        except Upstream as exc:
            problem = exc
    if problem is not None:
        return d.render(
            request,
            "signin.html",
            session,
            status=problem.status if not errors else 422,
            title="Sign in: error",
            problem=problem,
            errors=errors,
            kind=kind,
            identifier=identifier,
        )
    # a new session at sign-in: an id planted before it opens nothing
    token, _ = d.session_of(request)
    if token:
        d.sessions.destroy(token)
    new_token, fresh = d.sessions.create()
    fresh.tokens, fresh.principal = tokens, identifier
    response = RedirectResponse("/", status_code=303)
    d.set_cookie(request, response, new_token)
    return response


async def signout(request: Request) -> Response:
    d = _dash(request)
    token, session = d.session_of(request)
    if await _session_form(request, session) is None or session is None:
        return _refused(request, d, session)
    if session.tokens is not None:
        async with session.lock:
            await d.api.revoke(session.tokens)
            session.tokens = None
    if token:
        d.sessions.destroy(token)
    new_token, anonymous = d.sessions.create()
    anonymous.note = "You are signed out, and the service has ended this session's tokens."
    response = RedirectResponse("/signin", status_code=303)
    d.set_cookie(request, response, new_token)
    return response


async def site_missing(request: Request) -> Response:
    d = _dash(request)
    return d.render(
        request,
        "message.html",
        None,
        status=404,
        title="The documentation is not built here",
        message="The runbook is in docs/monitoring.qmd; `make docs` builds the site this dashboard links to.",
        link_href="/",
        link_text="Back to the dashboard",
    )


def create_app(settings: DashboardSettings, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The dashboard; `transport` replaces the network to the API (tests that hold the API app in process)."""
    dashboard = Dashboard(settings, transport)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dashboard.api.close()

    site = Path(settings.site_dir)
    routes: list[Any] = [
        Route("/", page),
        Route("/live", live),
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static")),
        Mount("/site", StaticFiles(directory=site, html=True))
        if site.is_dir()
        else Route("/site/{path:path}", site_missing),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = dashboard
    app.add_middleware(SecurityHeaders)
    return app
