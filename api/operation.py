"""What every endpoint shares: the token, the rate limit, the body, the error shape.

An operation is a plain function `handler(call) -> Reply` registered with `@operation(...)` under
its contract operationId. The endpoint wrapper reads the body (capped), then in one worker thread
authenticates the `X-plenigo-token`, spends one request of the token's bucket, parses and validates
the JSON body against the operation's contract schema and runs the handler, which calls storage
operations only. Any refusal becomes plenigo's error body; nothing a client sends yields a 500.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api import errors
from api.contract import body_errors, response_statuses
from api.params import Query
from api.ratelimit import TokenBuckets
from storage.audit import Actor
from storage.errors import CONFLICT, VALIDATION, DomainError, FieldError, ValidationError
from storage.models import ApiToken, Client
from storage.tokens import authenticate, touch

log = logging.getLogger("crossclient.api")

TOKEN_HEADER = "X-plenigo-token"
BAD_DATA = "Provided data cannot be processed."


@dataclass
class ApiSettings:
    """config [api]: rate limit per token, body size cap, the language of cart titles."""

    rate_per_second: float = 50.0
    burst: int = 100
    max_body_bytes: int = 64 * 1024
    cart_language: str = "de"

    @classmethod
    def from_config(cls, config) -> ApiSettings:
        if config is None:
            return cls()
        return cls(
            rate_per_second=float(config.get("api", "rate_limit_per_second", cls.rate_per_second,
                                             env="CROSSCLIENT_API_RATE_LIMIT")),
            burst=int(config.get("api", "rate_limit_burst", cls.burst, env="CROSSCLIENT_API_RATE_BURST")),
            max_body_bytes=int(config.get("api", "max_body_bytes", cls.max_body_bytes,
                                          env="CROSSCLIENT_API_MAX_BODY_BYTES")),
            cart_language=str(config.get("api", "cart_language", cls.cart_language)),
        )


@dataclass
class Call:
    """One authenticated request as a handler sees it."""

    client: Client
    token: ApiToken
    query: Query
    path: dict
    body: object
    settings: ApiSettings

    @property
    def actor(self) -> Actor:
        return Actor.api(f"token #{self.token.id} {self.token.name}")


@dataclass
class Reply:
    payload: object
    status: int = 200


@dataclass
class Operation:
    operation_id: str
    method: str
    path: str
    handler: Callable[[Call], Reply]
    body_schema: str | None = None
    required: tuple[str, ...] = ()
    allowed: set[int] = field(default_factory=set)


OPERATIONS: list[Operation] = []


def operation(operation_id: str, method: str, path: str, *, body: str | None = None,
              required: tuple[str, ...] = ()):
    """Register `handler` as the contract's `operation_id`; `body` names its request schema."""

    def register(handler):
        OPERATIONS.append(Operation(operation_id, method, path, handler, body, required,
                                    response_statuses(operation_id)))
        return handler

    return register


class BodyTooLarge(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, schema: str, required: tuple[str, ...]) -> object:
    if not raw.strip():
        raise ValidationError(FieldError("body", "is required: send a JSON object", ""), BAD_DATA)
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ValidationError(FieldError("body", "is nested too deeply", ""), BAD_DATA) from None
    except ValueError as exc:
        excerpt = raw[:100].decode("utf-8", "replace")
        raise ValidationError(FieldError("body", f"is not valid JSON: {exc}", excerpt), BAD_DATA) from None
    problems = body_errors(schema, data)
    if isinstance(data, dict):
        problems += [FieldError(name, "is required", "") for name in required
                     if data.get(name) in (None, "") and all(p.field != name for p in problems)]
    if problems:
        raise ValidationError(problems, BAD_DATA)
    return data


class Gate:
    """Authentication and rate limiting, shared by all endpoints of one app."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self.buckets = TokenBuckets(settings.rate_per_second, settings.burst)

    def run(self, op: Operation, request: Request, raw: bytes) -> Response:
        """Everything after the body is read; runs in a worker thread (storage blocks)."""
        try:
            token = authenticate(request.headers.get(TOKEN_HEADER))
            wait = self.buckets.take(token.id)
            if wait is not None:
                raise RateLimited(wait)
            touch(token)
            body = parse_json(raw, op.body_schema, op.required) if op.body_schema else None
            query = Query(request.query_params)
            call = Call(token.client, token, query, dict(request.path_params), body, self.settings)
            reply = op.handler(call)
            return JSONResponse(reply.payload, status_code=reply.status)
        except DomainError as exc:
            return errors.domain_response(exc, op.allowed)
        except RateLimited as exc:
            return errors.response(429, errors.RATE_LIMITED,
                                   "The rate limit for this endpoint is reached. Please try again later.",
                                   headers={"Retry-After": str(exc.retry_after)})
        except peewee.IntegrityError:
            log.info("%s: conflict with a concurrent change", op.operation_id, exc_info=True)
            return errors.response(400, CONFLICT, "The request conflicts with a concurrent change; "
                                   "send it again")
        except peewee.OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                return errors.response(504, errors.GATEWAY_TIMEOUT,
                                       "Processing of your request took too long. You can resend "
                                       "your request without any changes.")
            log.exception("%s failed", op.operation_id)
            return internal_error()
        except Exception:
            log.exception("%s failed", op.operation_id)
            return internal_error()

    def endpoint(self, op: Operation):
        async def endpoint(request: Request) -> Response:
            raw = b""
            if op.body_schema:
                try:
                    raw = await read_body(request, self.settings.max_body_bytes)
                except BodyTooLarge:
                    limit = self.settings.max_body_bytes
                    return errors.response(400, VALIDATION,
                                           f"The request body is larger than {limit} bytes.",
                                           [FieldError("body", f"must be at most {limit} bytes",
                                                       request.headers.get("content-length", ""))])
            return await run_in_threadpool(self.run, op, request, raw)

        endpoint.__name__ = op.operation_id
        return endpoint


def internal_error() -> JSONResponse:
    return errors.response(500, errors.INTERNAL, "Currently we are not able to answer your request. "
                           "We are working hard to resolve this problem.")
