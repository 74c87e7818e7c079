"""Batch assessment pages: the list's selection makes a job; the job page shows its progress
(refreshed by the user without JavaScript, by a polite progress bar with it) and retries the
cases of the requests that failed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from pathlab import batches
from pathlab.case_pages import render_case_list
from pathlab.web import Ctx

SELECT_PREFIX = "case:"


def create_batch(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if not ctx.model.enabled:
        raise HTTPException(409, "The model's service is not set up for this app, so no case can be assessed.")
    chosen = [name.removeprefix(SELECT_PREFIX) for name in ctx.form if name.startswith(SELECT_PREFIX)]
    try:
        job = batches.create(ctx.conn, chosen, ctx.user.username)
    except batches.BatchError as exc:
        return render_case_list(ctx, status=400, batch_error=str(exc), back=ctx.form.get("back", ""))
    ctx.model.wake_batches()
    ctx.flash(f"Batch {job} is started: {len(chosen)} case{'s' if len(chosen) != 1 else ''} to assess.")
    return RedirectResponse(f"/batches/{job}", status_code=303)


def _progress_or_404(ctx: Ctx) -> batches.Progress:
    raw = ctx.request.path_params["job"]
    found = batches.progress(ctx.conn, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if found is None:
        raise HTTPException(404, "There is no batch assessment with this number. Start one from the list of cases.")
    return found


def batch_page(ctx: Ctx) -> Response:
    job = _progress_or_404(ctx)
    state = "finished" if job.finished else "in progress"
    return ctx.render("batch.html", title=f"Batch assessment {job.job_id}, {state}", nav="cases", job=job, retried=None)


def batch_progress(ctx: Ctx) -> Response:
    """The progress as JSON, for the page's script."""
    return JSONResponse(_progress_or_404(ctx).as_json())


def retry_batch(ctx: Ctx) -> Response:
    assert ctx.user is not None
    job = _progress_or_404(ctx)
    n = batches.retry(ctx.conn, job.job_id, ctx.user.username)
    ctx.model.wake_batches()
    ctx.flash(
        f"{n} case{'s' if n != 1 else ''} of batch {job.job_id} sent to the model again."
        if n
        else f"Batch {job.job_id} has no failed case to send again."
    )
    return RedirectResponse(f"/batches/{job.job_id}", status_code=303)
