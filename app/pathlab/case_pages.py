"""The list of cases, the page of one case and its diagnosis form, and the audit trail."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from pathlab import assessments, audit, cases, diagnoses, model_api, outbox
from pathlab.web import Ctx

AUDIT_PAGE_SIZE = 50


def home(ctx: Ctx) -> Response:
    return RedirectResponse("/cases", status_code=303)


def case_list(ctx: Ctx) -> Response:
    return render_case_list(ctx)


def render_case_list(ctx: Ctx, status: int = 200, batch_error: str = "", back: str = "") -> Response:
    """The list, from the query string (or, after a refused batch form, from the list it came from)."""
    classes = diagnoses.classes(ctx.conn)
    params = dict(ctx.request.query_params)
    if back:
        params = dict(parse_qsl(urlsplit(back).query)) if back.startswith("/cases") else {}
    try:
        query = cases.ListQuery.parse(params, classes)
    except cases.QueryError as exc:
        raise HTTPException(400, f"The list cannot be shown: {exc}.") from None
    page = cases.list_cases(ctx.conn, query, ctx.settings.cases.page_size)
    if query.page > page.pages:
        raise HTTPException(404, f"There is no page {query.page} of this list: it has {page.pages}.")
    statuses = {**cases.STATUSES, **{name: f"Diagnosed {name}" for name in classes}}
    title = f"Cases, page {query.page} of {page.pages}" + (f", search “{query.q}”" if query.q else "")
    return ctx.render(
        "cases.html",
        status=status,
        title=("Error: " if batch_error else "") + title,
        nav="cases",
        page=page,
        query=query,
        sort_keys=cases.SORT_KEYS,
        orders=cases.ORDERS,
        statuses=statuses,
        model_enabled=ctx.model.enabled,
        assessed=assessments.assessed_accessions(ctx.conn, [r.accession for r in page.rows]),
        batch_error=batch_error,
    )


def _case_or_404(ctx: Ctx) -> cases.Case:
    case = cases.get_case(ctx.conn, ctx.request.path_params["accession"])
    if case is None:
        raise HTTPException(404, "There is no case with this accession number. Find it from the list of cases.")
    return case


def _render_case(
    ctx: Ctx,
    case: cases.Case,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    api_error: model_api.ModelApiError | None = None,
    status_message: str = "",
) -> Response:
    history = diagnoses.history(ctx.conn, case.id)
    classes = diagnoses.classes(ctx.conn)
    headers = {"Retry-After": str(api_error.retry_after)} if api_error and api_error.retry_after else None
    return ctx.render(
        "case.html",
        status=status,
        headers=headers,
        title=("Error: " if errors or api_error else "") + f"Case {case.accession}",
        nav="cases",
        case=case,
        measurements_note=cases.wording(ctx.conn, "measurements_note"),
        diagnosis_note=cases.wording(ctx.conn, "diagnosis_note"),
        classes=classes,
        current=history[0] if history else None,
        history=history,
        errors=errors or {},
        values=values or {},
        max_comment=diagnoses.MAX_COMMENT,
        max_reason=diagnoses.MAX_REASON,
        error_targets={"diagnosis": f"diagnosis-{classes[0]}" if classes else "diagnosis"},
        assessment=assessments.get(ctx.conn, case.id),
        feedback=outbox.for_case(ctx.conn, case.id),
        model_enabled=ctx.model.enabled,
        api_error=api_error,
        status_message=status_message,
    )


def case_page(ctx: Ctx) -> Response:
    return _render_case(ctx, _case_or_404(ctx))


def _typed(ctx: Ctx) -> dict[str, str]:
    return {k: ctx.form.get(k, "") for k in ("diagnosis", "comment", "reason")}


def assess_case(ctx: Ctx) -> Response:
    """Ask the model once; the assessment is kept with the case. The diagnosis form's fields come
    along with this button's form (it submits that form), so what was typed there is shown again."""
    assert ctx.user is not None
    case = _case_or_404(ctx)
    values = _typed(ctx)
    if assessments.get(ctx.conn, case.id) is None:
        record = {m.name: m.value for m in case.measurements}
        try:
            prediction = ctx.model.call(lambda api: api.predict, record)
        except model_api.ModelApiError as exc:
            return _render_case(ctx, case, 503 if exc.transient else 502, values=values, api_error=exc)
        assessments.store(ctx.conn, case.id, case.accession, prediction, ctx.user.username)
    message = f"The model has assessed case {case.accession}: its assessment is shown below."
    if any(values.values()):
        return _render_case(ctx, case, values=values, status_message=message)
    ctx.flash(message)
    return RedirectResponse(f"/cases/{case.accession}#assessment", status_code=303)


def record_diagnosis(ctx: Ctx) -> Response:
    assert ctx.user is not None
    case = _case_or_404(ctx)
    history = diagnoses.history(ctx.conn, case.id)
    current = history[0] if history else None
    based_on_text = ctx.form.get("based_on", "")
    if based_on_text and not based_on_text.isdigit():
        raise HTTPException(400, "The form was altered: its based_on field must be a diagnosis number.")
    based_on = int(based_on_text) if based_on_text else None
    values = _typed(ctx)
    errors = diagnoses.validate(ctx.form, diagnoses.classes(ctx.conn), current if based_on is not None else None)
    if errors:
        return _render_case(ctx, case, 400, errors, values)
    assessment = assessments.get(ctx.conn, case.id)
    try:
        recorded = diagnoses.record(
            ctx.conn,
            case_id=case.id,
            accession=case.accession,
            diagnosis=values["diagnosis"],
            comment=values["comment"],
            reason=values["reason"],
            username=ctx.user.username,
            based_on=based_on,
            prediction_id=assessment.prediction_id if assessment else None,
        )
    except diagnoses.StaleForm:
        now = diagnoses.history(ctx.conn, case.id)
        if not now:
            raise HTTPException(400, "The form was altered: it names a diagnosis this case does not have.") from None
        latest = now[0]
        message = (
            f"{latest.recorded_by} recorded this case as {latest.diagnosis} at {latest.recorded_at} while your form "
            "was open. Read it below; to change it, choose the diagnosis again and give the reason"
        )
        return _render_case(ctx, case, 409, {"diagnosis": message}, values)
    verb = "changed to" if based_on is not None else "recorded as"
    message = f"The final diagnosis of case {case.accession} is {verb} {recorded.diagnosis}."
    if assessment is not None:
        ctx.model.flush_outbox(only=assessment.prediction_id)
        sent = outbox.for_case(ctx.conn, case.id)
        if sent is not None and sent.state == "sent" and sent.label == recorded.diagnosis:
            message += " It was sent to the model's service."
        elif sent is not None and sent.state == "pending" and sent.attempts == 0:
            message += " It is being sent to the model's service."  # by the outbox's own loop, just now
        elif sent is not None and sent.state == "pending":
            message += " The model's service could not take it now: the app keeps it and sends it later."
    ctx.flash(message)
    return RedirectResponse(f"/cases/{case.accession}", status_code=303)


def audit_trail(ctx: Ctx) -> Response:
    raw = ctx.request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 999_999:
        raise HTTPException(400, f"The audit trail cannot be shown: page must be a whole number from 1, not {raw!r}.")
    number = int(raw)
    total = audit.count(ctx.conn)
    pages = max(1, math.ceil(total / AUDIT_PAGE_SIZE))
    if number > pages:
        raise HTTPException(404, f"There is no page {number} of the audit trail: it has {pages}.")
    events = audit.events(ctx.conn, limit=AUDIT_PAGE_SIZE, offset=(number - 1) * AUDIT_PAGE_SIZE)
    case_subjects = cases.existing_accessions(ctx.conn, {e.subject for e in events})
    return ctx.render(
        "audit.html",
        title=f"Audit trail, page {number} of {pages}",
        nav="audit",
        events=events,
        case_subjects=case_subjects,
        number=number,
        pages=pages,
        total=total,
    )
