"""The list of cases and the page of one case."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from pathlab import cases
from pathlab.web import Ctx


def home(ctx: Ctx) -> Response:
    return RedirectResponse("/cases", status_code=303)


def case_list(ctx: Ctx) -> Response:
    try:
        query = cases.ListQuery.parse(dict(ctx.request.query_params))
    except cases.QueryError as exc:
        raise HTTPException(400, f"The list cannot be shown: {exc}.") from None
    page = cases.list_cases(ctx.conn, query, ctx.settings.cases.page_size)
    if query.page > page.pages:
        raise HTTPException(404, f"There is no page {query.page} of this list: it has {page.pages}.")
    return ctx.render(
        "cases.html",
        title=f"Cases, page {query.page} of {page.pages}" + (f", search “{query.q}”" if query.q else ""),
        nav="cases",
        page=page,
        query=query,
        sort_keys=cases.SORT_KEYS,
        orders=cases.ORDERS,
    )


def case_page(ctx: Ctx) -> Response:
    case = cases.get_case(ctx.conn, ctx.request.path_params["accession"])
    if case is None:
        raise HTTPException(404, "There is no case with this accession number. Find it from the list of cases.")
    return ctx.render(
        "case.html",
        title=f"Case {case.accession}",
        nav="cases",
        case=case,
        measurements_note=cases.wording(ctx.conn, "measurements_note"),
    )
