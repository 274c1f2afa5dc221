"""A fuzz run over every operation of the running API's OpenAPI document, with text that
has hurt before: NUL, other control characters, lone surrogates and 10,000-character
strings, in every string of every body, path and query. Then one hold period later (the
stack's holds are short, tests/e2e/conftest.py): no answer was a 5xx, no workflow has an
activity failing more than 3 times, no hold is past its expiry plus the grace, and
`stocksaga verify` is clean. (The answer alone cannot tell: a NUL once got a 201 and jammed
the saga behind it.)"""

import asyncio
import copy
import json
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client

from api.wms import sign
from tests.e2e.conftest import HOLD_SECONDS, OVERDUE_GRACE_SECONDS

pytestmark = pytest.mark.e2e
NASTY = ["a\u0000b", "\x1b[2J\x07bell", "x\ud800y", "L" * 10_000, "\x85next\x7f", "tab\tand\nline"]
SECRET = "dev-wms-secret"
# Values a valid request needs by field name (the demo catalogue's), so that the fuzzed
# requests get as far as they can: an order for stock that exists, and so on.
NAMED = {
    "sku": "DEMO-0001",
    "location_id": "ST-RNO",
    "supplier_id": "SUP-MANUAL",
    "customer_id": "fuzz-customer",
    "user_id": "fuzz-user",
    "country": "US",
    "postal_code": "89501",
    "source": "ST-RNO",
    "destination": "FC-BER",
    "role": "storefront",
    "url": "https://example.com/hook",
    "topics": ["transfer.lost"],
    "active": False,
}
PATTERN_SAMPLES = ["FUZZ-1", "US", "12:00", "fuzz text", "0123456789abcdef0123"]
# Operations that would change what the other end-to-end tests rely on get things of their own.
OWN_PATH = {"/v1/locations/{location_id}": {"location_id": "FUZZ-LOC"}}
OWN_BODY = {"/v1/suppliers": {"supplier_id": "FUZZ-SUP"}}


def example(schema: dict, components: dict, name: str | None = None):
    """A value the schema accepts, as plain as can be (names in NAMED get their value)."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[1]], components, name)
    if name in NAMED:
        return NAMED[name]
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema or "const" in schema:
        return schema["enum"][0] if "enum" in schema else schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            first = next(s for s in schema[key] if s.get("type") != "null")
            return example(first, components, name)
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        return {
            k: example(v, components, k) for k, v in schema.get("properties", {}).items() if k in required or k in NAMED
        }
    if kind == "array":
        return [example(schema.get("items", {}), components, name)] * max(schema.get("minItems", 1), 1)
    if kind == "string":
        if schema.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        pattern = schema.get("pattern")
        return next((s for s in PATTERN_SAMPLES if re.search(pattern, s)), "FUZZ-1") if pattern else "fuzz"
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1, 1)
    if kind == "number":
        return float(max(schema.get("minimum", 1.0), 1.0))
    if kind == "boolean":
        return False
    return None


def encoded(text: str) -> str:
    """Percent-encoded for a URL, a lone surrogate included (as the bytes it would be)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def string_paths(value, path=()):
    """Where the strings of a body are."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from string_paths(inner, (*path, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from string_paths(inner, (*path, n))


def with_value(body, path, value):
    changed = copy.deepcopy(body)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def wms_bases(order_id: str) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    base = {"location_id": "ST-RNO", "occurred_at": now}
    return [
        {**base, "event_type": "RECEIVING_COMPLETE", "payload": {"lines": [{"sku": "DEMO-0001", "quantity": 1}]}},
        {**base, "event_type": "DAMAGE_REPORT", "payload": {"sku": "DEMO-0001", "quantity": 1, "reason": "dented"}},
        {
            **base,
            "event_type": "CYCLE_COUNT_ADJUSTMENT",
            "payload": {"sku": "DEMO-0004", "actual": 40, "reason": "recount", "counted_by": "fuzz"},
        },
        {
            **base,
            "event_type": "PICK_COMPLETE",
            "payload": {"order_id": order_id, "shipment_id": "S1", "tracking": "TRK-1"},
        },
    ]


def test_every_operation_with_hostile_text_leaves_no_5xx_and_nothing_stuck(stack):
    api, admin = stack["api"], stack["admin"]
    doc = admin.get(f"{api}/openapi.json").json()
    components = doc["components"]["schemas"]
    placed = admin.post(
        f"{api}/v1/orders",
        headers={"Idempotency-Key": f"fuzz-{uuid.uuid4().hex}"},
        json={
            "customer_id": "fuzz",
            "lines": [{"sku": "DEMO-0003", "quantity": 1}],
            "shipping": {"country": "US", "postal_code": "89501"},
        },
    )
    assert placed.status_code == 201, placed.text
    now = datetime.now(UTC)
    sale = admin.post(
        f"{api}/v1/flash-sales",
        json={
            "sku": "DEMO-0005",
            "quantity": 3,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(minutes=10)).isoformat(),
        },
    ).json()
    real = {
        "order_id": placed.json()["order_id"],
        "sale_id": sale["sale_id"],
        "sku": "DEMO-0001",
        "location_id": "ST-RNO",
    }

    sent, failures, ops = 0, [], 0
    client = httpx.Client(base_url=api, timeout=60, headers=admin.headers)

    def send(method, path, body=None, params=None, what=""):
        nonlocal sent
        if params:
            path += "?" + "&".join(f"{name}={encoded(str(value))}" for name, value in params.items())
        headers = {"Idempotency-Key": f"fuzz-{uuid.uuid4().hex}"}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            if path == "/v1/wms/events":
                headers["X-Signature"] = sign(SECRET, content)
        answer = client.request(method, path, content=content, headers=headers)
        sent += 1
        if answer.status_code >= 500:
            failures.append(f"{method} {path} {what}: {answer.status_code} {answer.text[:200]}")
        return answer

    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            ops += 1
            names = re.findall(r"{(\w+)}", template)
            fill = {n: real.get(n, "FUZZ-1") for n in names} | OWN_PATH.get(template, {})
            path = template.format(**fill)
            params = {
                p["name"]: example(p.get("schema", {}), components, p["name"])
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            }
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if template == "/v1/wms/events":
                bodies = [{**base, "event_id": f"fuzz-{uuid.uuid4().hex}"} for base in wms_bases(real["order_id"])]
            else:
                body = example(schema, components) if schema else None
                bodies = [{**body, **OWN_BODY[template]} if body is not None and template in OWN_BODY else body]
            for body in bodies:
                send(method.upper(), path, body, params, "as documented")
                for where in list(string_paths(body)) if body is not None else []:
                    for bad in NASTY:
                        changed = with_value(body, where, bad)
                        if template == "/v1/wms/events" and where != ("event_id",):
                            changed["event_id"] = f"fuzz-{uuid.uuid4().hex}"
                        send(method.upper(), path, changed, params, f"body {'.'.join(map(str, where))}={bad[:12]!r}")
            for name in names:
                for bad in NASTY:
                    send(
                        method.upper(),
                        template.format(**{**fill, name: encoded(bad)}),
                        bodies[0],
                        params,
                        f"path {name}={bad[:12]!r}",
                    )
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter.get("schema", {}).get("type") != "integer":
                    for bad in NASTY:
                        send(
                            method.upper(),
                            path,
                            bodies[0],
                            {**params, parameter["name"]: bad},
                            f"query {parameter['name']}={bad[:12]!r}",
                        )
    client.close()
    print(f"fuzz: {sent} requests over {ops} operations, {len(failures)} answered 5xx")
    assert ops > 40 and sent > 500
    assert failures == [], "\n".join(failures[:20])

    # One hold period on: whatever the fuzz held has been given back, and nothing is stuck.
    time.sleep(HOLD_SECONDS + OVERDUE_GRACE_SECONDS + 5)
    metrics = admin.get(f"{api}/metrics").text
    gauges = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith(("stocksaga_holds_overdue ", "stocksaga_activities_failing "))
    }
    assert gauges == {"stocksaga_holds_overdue": 0.0, "stocksaga_activities_failing": 0.0}, gauges
    assert asyncio.run(retried_activities(stack["env"]["TEMPORAL_ADDRESS"])) == []
    verify = subprocess.run(
        [sys.executable, "-m", "stocksaga.cli", "verify"], env=stack["env"], capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def retried_activities(address: str) -> list[str]:
    """Running workflows with an activity on its 4th attempt or later, as Temporal sees them."""
    client = await Client.connect(address)
    found = []
    async for execution in client.list_workflows("ExecutionStatus='Running'"):
        description = await client.get_workflow_handle(execution.id).describe()
        found += [
            f"{execution.id}: {a.activity_type.name} attempt {a.attempt}"
            for a in description.raw_description.pending_activities
            if a.attempt > 3
        ]
    return found
