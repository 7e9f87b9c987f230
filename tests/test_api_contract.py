"""The contract copy shipped in api/, the demo secret, and import hygiene of the API."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from api.contract import CONTRACT_PATH, served_document
from api.sample_merchant import DEMO_SECRET as MERCHANT_DEFAULT_SECRET
from storage.demo import DEMO_SECRET
from tests.api_world import SHARED_CONTRACT


def test_shipped_contract_is_the_binding_one():
    if not SHARED_CONTRACT.exists():
        pytest.skip(f"the shared contract is not beside the repository ({SHARED_CONTRACT})")
    assert json.loads(CONTRACT_PATH.read_text()) == json.loads(SHARED_CONTRACT.read_text())


def test_served_document_keeps_every_contract_operation():
    shared = json.loads(CONTRACT_PATH.read_text())
    served = served_document()
    for path, item in shared["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                assert served["paths"][path][method]["operationId"] == op["operationId"]
    extensions = [op for item in served["paths"].values() for m, op in item.items()
                  if m != "parameters" and op.get("x-crossclient-extension")]
    assert [op["operationId"] for op in extensions] == ["purchaseShoppingCart"]


def test_sample_merchant_default_secret_is_the_demo_secret():
    assert MERCHANT_DEFAULT_SECRET == DEMO_SECRET


def test_api_imports_neither_textual_nor_does_storage_import_http():
    code = ("import sys, api.app, api.server, api.sample_merchant, storage.orders; "
            "assert 'textual' not in sys.modules, 'textual imported'; print('ok')")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "ok"
    code = ("import sys, storage.orders, storage.customers, storage.callbacks, storage.tokens; "
            "bad = [m for m in ('starlette', 'httpx', 'textual', 'api') if m in sys.modules]; print(bad)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
