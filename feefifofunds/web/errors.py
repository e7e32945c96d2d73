"""Every error is JSON (on /api/) or a readable page (the dashboard), never Django's bare HTML 500.

The price store unreachable or timing out is a 503; a query QuestDB refused is a 500. The body names the
reason in one short sentence; details (the SQL, the traceback) go to the server log only. A store that belongs
to another catalog (``feefifofunds.store.binding``, checked once per worker by ``StoreBindingMiddleware``) is a
503 whose message names both catalogs and the way out: nothing of it is shown under this catalog's tickers.
"""

from __future__ import annotations

import logging

import psycopg
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from feefifofunds.store import binding, kept
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS

log = logging.getLogger(__name__)


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, parameter: str | None = None) -> JsonResponse:
    body = {"status": status, "code": code, "message": message}
    if parameter:
        body["parameter"] = parameter
    return JsonResponse({"error": body}, status=status)


def error_page(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    context = {"error": {"status": status, "code": code, "message": message}}
    try:
        html = render_to_string("feefifofunds/error.html", context, request=request)
    except Exception:  # the error page itself failed (e.g. static files not collected): plain text still reads
        log.exception("rendering the error page failed")
        return HttpResponse(f"Error {status}: {message}\n", status=status, content_type="text/plain; charset=utf-8")
    return HttpResponse(html, status=status)


def error_response(request: HttpRequest, status: int, code: str, message: str,
                   parameter: str | None = None) -> HttpResponse:
    if is_api(request):
        return json_error(status, code, message, parameter)
    return error_page(request, status, code, message)


def classify(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, code, message) for the store's failures; None for anything else."""
    if isinstance(exc, binding.BindingMismatch):
        return 503, "store_of_another_catalog", str(exc)
    if isinstance(exc, kept.NotBuilt):
        return 503, "gaps_not_built", str(exc)
    if isinstance(exc, QuestDBError):
        return 503, "store_unavailable", "the price store (QuestDB) cannot be reached"
    if isinstance(exc, psycopg.OperationalError):
        return 503, "store_unavailable", "the price store (QuestDB) stopped answering"
    if isinstance(exc, psycopg.Error):
        if "timeout" in str(exc).lower():
            return 503, "store_timeout", "the price store (QuestDB) took too long to answer"
        return 500, "store_query_failed", "the price store (QuestDB) could not answer this query"
    return None


class JsonApiErrorsMiddleware:
    """Uncaught exceptions and Django's own HTML error responses become JSON on /api/ and pages elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        head = False
        if is_api(request):
            if request.method not in ("GET", "HEAD"):
                response = json_error(405, "method_not_allowed", "this API is read-only: use GET")
                response["Allow"] = "GET, HEAD"
                return response
            head = request.method == "HEAD"
            if head:  # answered like GET, without the body
                request.method = "GET"
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not response.get("Content-Type", "").startswith(
                "application/json"):
            if response.status_code == 405:
                allow = response.get("Allow", "GET")
                response = json_error(405, "method_not_allowed", "this API is read-only: use GET")
                response["Allow"] = allow
            elif response.status_code == 404:
                response = json_error(404, "not_found", "no such API endpoint; see /api/openapi.json")
            else:
                response = json_error(response.status_code, "error", response.reason_phrase or "error")
        if head and not response.streaming:
            length = len(response.content)
            response.content = b""
            response["Content-Length"] = str(length)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        known = classify(exc)
        if known is None:
            log.exception("unexpected error on %s", request.path)
            known = (500, "internal_error", "the server failed to answer this request")
        else:
            log.warning("%s on %s: %s", known[1], request.path, exc)
        return error_response(request, *known)


# Paths that show no prices: the API's description and the admin (static files are served before this).
UNGUARDED = ("/api/openapi.json", "/api/docs", "/admin/")


class StoreBindingMiddleware:
    """Pages and API answers only from a store that belongs to this catalog: checked on the first request of
    each worker (``binding.check_once``), then remembered; a mismatch answers every request with the 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(UNGUARDED):
            try:
                binding.check_once(DEFAULT_ALIAS)
            except (binding.BindingMismatch, QuestDBError, psycopg.Error) as exc:
                known = classify(exc)
                log.error("%s on %s: %s", known[1], request.path, exc)
                return error_response(request, *known)
        return self.get_response(request)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: unknown URLs answer JSON on /api/ and the error page elsewhere."""
    if is_api(request):
        return json_error(404, "not_found", "no such API endpoint; see /api/openapi.json")
    return error_page(request, 404, "not_found", "There is no page at this address.")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the last resort for failures outside views (a view's own failures are caught above)."""
    return error_response(request, 500, "internal_error", "the server failed to answer this request")
