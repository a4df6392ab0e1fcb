"""Property-based checks of the live service against its own OpenAPI schema (schemathesis).

Every operation gets a bounded number of generated requests, valid (positive) and invalid (negative); no response
may be a 5xx, use an undocumented status code or content type, break its documented schema, or accept invalid
data. The server runs with a short job timeout so generated echo jobs (up to 1000 steps x 10 s) cannot pile up.

(Schemathesis's lazy pytest loader does not work with pytest 9, so the strategies are driven with hypothesis
directly, one test per operation and generation mode.)
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from srv_live import start_server

MAX_EXAMPLES = 30
OPERATIONS = [("GET", "/health"), ("GET", "/v1/models"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/{job_id}"),
              ("GET", "/v1/jobs/{job_id}/result"), ("DELETE", "/v1/jobs/{job_id}"),
              ("GET", "/v1/jobs/{job_id}/events"), ("POST", "/v1/bonemap")]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_server():
    s = start_server("--max-queue", "1000", "--job-timeout", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


def test_every_operation_is_covered(api_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


# operations without parameters or body have nothing to make invalid: valid requests only
RUNS = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if not (mode == GenerationMode.NEGATIVE and p in ("/health", "/v1/models"))]


@pytest.mark.parametrize("method,path,mode", RUNS,
                         ids=[f"{m} {p} {'valid' if g == GenerationMode.POSITIVE else 'invalid'}" for m, p, g in RUNS])
def test_operation_conforms_to_its_schema(api_schema, fuzz_server, method, path, mode):
    operation = api_schema[path][method]
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(base_url=fuzz_server.url, checks=checks, timeout=60)

    run()


def test_server_survived_the_fuzzing(fuzz_server):
    assert fuzz_server.proc.poll() is None
    assert fuzz_server.client().health()["status"] == "ok"
