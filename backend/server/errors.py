"""Error responses a person can read: every 4xx/5xx body is an :class:`backend.schema.ErrorBody`.

Pydantic's validation errors are turned into one sentence per problem ("keys.rotations: array contains NaN or
infinity at index [0, 3, 1]"), with the raw list (location, message, type) kept in ``detail`` for programs.
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..pipelines import TASKS, RequestError
from ..schema import ErrorBody

MAX_LISTED = 5


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path``, plus OPTIONS: the ``Allow`` header."""
    methods = set()
    for route in app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m)) + ["OPTIONS"]


def error_response(status: int, error: str, detail=None, headers=None) -> JSONResponse:
    return JSONResponse(ErrorBody(error=error, detail=detail).model_dump(exclude_none=True), status_code=status,
                        headers=headers)


def _where(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind, parts = parts[0], parts[1:]
        if kind != "body" and parts:
            parts[0] = f"{kind} parameter {parts[0]!r}"
    parts = [p for p in parts if p not in TASKS]  # the union's tag adds nothing for a reader
    return ".".join(parts)


def _sentence(err: dict) -> str:
    typ, msg = err.get("type", ""), str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if typ == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "?")
        return f"unknown task {tag!r}: the task must be one of {', '.join(TASKS)}"
    if typ == "union_tag_not_found":
        return f"the request needs a \"task\" field: one of {', '.join(TASKS)}"
    if typ == "missing":
        return f"{_where(err.get('loc', ()))}: this field is required"
    if typ == "extra_forbidden":
        return f"{_where(err.get('loc', ()))}: unknown field (check the spelling against the OpenAPI schema)"
    if typ == "finite_number":
        return f"{_where(err.get('loc', ()))}: NaN and infinity are not allowed"
    where = _where(err.get("loc", ()))
    return f"{where}: {msg}" if where else msg


def summarize(errors: list[dict]) -> tuple[str, list[dict]]:
    sentences = []
    for e in errors:
        s = _sentence(e)
        if s not in sentences:
            sentences.append(s)
    text = "; ".join(sentences[:MAX_LISTED])
    if len(sentences) > MAX_LISTED:
        text += f"; and {len(sentences) - MAX_LISTED} more problems"
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in errors[:50]]
    return text, detail


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = list(exc.errors())
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in ctype.lower():
            return error_response(415, f"send the body as JSON with 'Content-Type: application/json' (got "
                                       f"{ctype or 'no Content-Type'!r})")
        bad_json = [e for e in errors if e.get("type") == "json_invalid"]
        if bad_json:
            ctx = bad_json[0].get("ctx") or {}
            reason = ctx.get("error", "malformed JSON")
            loc = bad_json[0].get("loc", ())
            pos = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            return error_response(400, f"the request body is not valid JSON{pos}: {reason}")
        if any(e.get("type") == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",) for e in errors) or \
                any(e.get("type") in ("dict_type", "model_type") and tuple(e.get("loc", ())) == ("body",)
                    for e in errors):
            return error_response(422, "the request body must be a JSON object", summarize(errors)[1])
        text, detail = summarize(errors)
        return error_response(422, text or "invalid request", detail)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return error_response(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette lists only the first matching route's methods
            allow = ", ".join(allowed_methods(app, request.url.path))
            # a plain OPTIONS is answered; a browser's CORS preflight is not (no CORS unless --cors-origin is given)
            if request.method == "OPTIONS" and "access-control-request-method" not in request.headers:
                return Response(status_code=204, headers={"Allow": allow})
            headers, detail = {"Allow": allow}, f"{request.method} is not allowed here; allowed: {allow}"
        return error_response(exc.status_code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")
