"""Every route of the app, in one table."""

from __future__ import annotations

from starlette.routing import Route

from pathlab import auth_pages, batch_pages, case_pages, model_page
from pathlab.web import page

ROUTES = [
    Route("/", page(case_pages.home), methods=["GET"]),
    Route("/cases", page(case_pages.case_list), methods=["GET"]),
    Route("/cases/{accession}", page(case_pages.case_page), methods=["GET"]),
    Route("/cases/{accession}/diagnosis", page(case_pages.record_diagnosis, form=True), methods=["POST"]),
    Route("/cases/{accession}/assess", page(case_pages.assess_case, form=True), methods=["POST"]),
    Route("/batches", page(batch_pages.create_batch, form=True), methods=["POST"]),
    Route("/batches/{job}", page(batch_pages.batch_page), methods=["GET"]),
    Route("/batches/{job}/progress", page(batch_pages.batch_progress), methods=["GET"]),
    Route("/batches/{job}/retry", page(batch_pages.retry_batch, form=True), methods=["POST"]),
    Route("/model", page(model_page.model_page), methods=["GET"]),
    Route("/audit", page(case_pages.audit_trail), methods=["GET"]),
    Route("/login", page(auth_pages.sign_in_form, signed_in=False), methods=["GET"]),
    Route("/login", page(auth_pages.sign_in, form=True, signed_in=False), methods=["POST"]),
    Route("/logout", page(auth_pages.sign_out, form=True), methods=["POST"]),
]
