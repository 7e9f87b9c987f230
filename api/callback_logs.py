"""The callback log of the token's client: one entry per delivery attempt of a callback it receives.

Filters as in the contract: entityType, callbackType, errorOnly, plenigoCallbackId (our callback
row id) and startTime/endTime (when the attempt was made).
"""
from __future__ import annotations

from api import shapes
from api.contract import contract
from api.operation import Call, Reply, operation
from storage.callbacks import get_attempt, list_attempts


def _enum(parameter: str) -> tuple[str, ...]:
    return tuple(contract()["components"]["parameters"][parameter]["schema"]["enum"])


@operation("searchCallbackLogs", "GET", "/callbacks/logs")
def search(call: Call) -> Reply:
    q = call.query
    paging = q.paging()
    since, until = q.time_range()
    entity_type = q.one_of("entityType", _enum("entityTypeQuery"))
    callback_type = q.one_of("callbackType", _enum("callbackTypeQuery"))
    errors_only = q.boolean("errorOnly")
    callback_id = q.integer("plenigoCallbackId")
    q.done()
    page = list_attempts(call.client, errors_only=bool(errors_only), entity_type=entity_type,
                         callback_type=callback_type, callback_id=callback_id, since=since,
                         until=until, **paging.kwargs())
    return Reply({"items": [shapes.callback_log_entry(a) for a in page]})


@operation("getCallbackLog", "GET", "/callbacks/logs/{callbackLogEntryId}")
def get(call: Call) -> Reply:
    return Reply(shapes.callback_log_entry(get_attempt(call.path["callbackLogEntryId"], call.client)))
