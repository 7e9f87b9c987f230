"""Cross-client transactions (the payout list) where the token's client is either side.

Filters as in the contract: orderId, subscriptionId, type, paidStatus, connectedCompanyId (the
client on the other side) and startTime/endTime (last change). `invoiceId` matches nothing:
crossclient writes no invoices. No `sort` in the contract: ascending by id.
"""
from __future__ import annotations

from api import shapes
from api.operation import Call, Reply, operation
from storage.errors import DomainError
from storage.orders import get_transaction, list_transactions
from storage.tenancy import get_client


@operation("searchCrossClientTransactions", "GET", "/orders/crossClientTransactions")
def search(call: Call) -> Reply:
    q = call.query
    paging = q.paging(sortable=False)
    since, until = q.time_range()
    order_id, subscription_id = q.integer("orderId"), q.integer("subscriptionId")
    invoice_id = q.integer("invoiceId")
    kind = q.one_of("type", ("LOSS", "REFUND", "PAYMENT"))
    paid = q.one_of("paidStatus", ("OPEN", "PAID"))
    connected = q.text("connectedCompanyId", 20)
    q.done()
    other = None
    if connected:
        try:
            other = get_client(connected)
        except DomainError:
            return Reply({"items": []})
    if invoice_id is not None:
        return Reply({"items": []})
    page = list_transactions(call.client, paid_status=paid, type=kind, order_id=order_id,
                             subscription_id=subscription_id, other=other, since=since, until=until,
                             **paging.kwargs())
    names = shapes.ClientNames()
    return Reply({"items": [shapes.transaction(t, names) for t in page]})


@operation("getCrossClientTransactionById", "GET",
           "/orders/crossClientTransactions/{crossClientTransactionId}")
def get(call: Call) -> Reply:
    txn = get_transaction(call.path["crossClientTransactionId"], call.client)
    return Reply(shapes.transaction(txn, shapes.ClientNames()))
