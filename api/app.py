"""The Starlette application: plenigo's endpoints under /api/v3.0, and the sample merchant.

`create_app(config)` builds the app on the database already opened through `storage.db` (the
caller opens it: `crossclient serve`, the backoffice, a test). Endpoints are registered by the
resource modules (customers, subscriptions, callback_logs, shopping_carts, transactions) with
`@operation`; `GET /api/v3.0/openapi.json` needs no token and documents every one of them.
The sample merchant web service (an integrator's example) answers under /sample-merchant.
"""
from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from api import callback_logs, customers, errors, shopping_carts, subscriptions, transactions  # noqa: F401
from api.contract import BASE_PATH, served_document
from api.operation import OPERATIONS, ApiSettings, Gate, internal_error
from api.sample_merchant import SampleMerchant
from storage.config import Config
from storage.errors import NOT_FOUND


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(served_document())


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return errors.response(404, NOT_FOUND, f"There is no endpoint {request.url.path}")
    if exc.status_code == 405:
        return errors.response(405, errors.METHOD_NOT_ALLOWED,
                               f"{request.method} is not allowed on {request.url.path}",
                               headers=dict(exc.headers or {}))
    return errors.response(exc.status_code, 99000 + exc.status_code, str(exc.detail))


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    return internal_error()


def create_app(config: Config | None = None) -> Starlette:
    """The ASGI app; `config` supplies [api] and [sample_merchant] (missing keys: defaults)."""
    config = config or Config()
    settings = ApiSettings.from_config(config)
    gate = Gate(settings)
    routes = [Route("/openapi.json", openapi, methods=["GET"])]
    for op in OPERATIONS:
        routes.append(Route(op.path, gate.endpoint(op), methods=[op.method], name=op.operation_id))
    merchant = SampleMerchant.from_config(config)
    app = Starlette(
        routes=[Mount(BASE_PATH, routes=routes), Mount("/sample-merchant", routes=merchant.routes())],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.settings = settings
    app.state.gate = gate
    app.state.sample_merchant = merchant
    return app
