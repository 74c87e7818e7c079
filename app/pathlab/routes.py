"""Every route of the app, in one table."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from pathlab import auth_pages
from pathlab.web import Ctx, page


def home(ctx: Ctx) -> Response:
    return ctx.render("home.html", title="Home")


ROUTES = [
    Route("/", page(home), methods=["GET"]),
    Route("/login", page(auth_pages.sign_in_form, signed_in=False), methods=["GET"]),
    Route("/login", page(auth_pages.sign_in, form=True, signed_in=False), methods=["POST"]),
    Route("/logout", page(auth_pages.sign_out, form=True), methods=["POST"]),
]
