"""schemathesis from the app's own OpenAPI document, against the real app (in process, with a
SQLite file and the real Redis), every phase as ``st run`` runs them: the documented examples,
coverage (boundary values of every limit), fuzzing, and stateful scenarios that follow the
document's links (a stored comment to its reads and reviews). Every check is on: no 5xx, each
response as documented (status, headers, body), and the document's limits exactly the API's
(schema-valid requests are accepted, schema-violating ones refused). Bounded, and the same
cases on every run (a fixed seed).

Three refusals no schema can express are allowed, and only these: a 422 whose every field error
is an id that is not stored (``unknown_reference``), a paging cursor this server did not
give out (``invalid_cursor``), or a rule on several fields together (``field_combination``:
exactly one of two ids, ``until`` only with ``suspended``, a rejection's reason code from
the list); and a batch that refuses its invalid items in its results
(202, ``failed`` counted), as the batch endpoint promises.

The Perspective API (``/v1alpha1/``) is left out: it is off in unit tests (its models load in
seconds), so every call would be a 503; tests/perspective checks its errors one by one.
"""

from __future__ import annotations

import os
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status, events, from_schema
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from moderation.api.schemas import FIELD_COMBINATION
from moderation.defaults import DEFAULT_MAX_WAIT_SECONDS
from tests.conftest import API_KEYS

STATE_DEPENDENT = {"unknown_reference", "invalid_cursor", FIELD_COMBINATION}
BATCH = "POST /v1/comments/batch"
MAX_WAIT = 0.2
"""``GET /v1/comments/{id}?wait=`` holds up to 30 s for a decision no worker makes here."""
EXAMPLES = int(os.environ.get("MODERATION_SCHEMATHESIS_EXAMPLES", "12"))
"""Per operation and phase; raise it for a deeper run by hand."""
SEED = int(os.environ.get("MODERATION_SCHEMATHESIS_SEED", "20240613"))


def body_is_valid(case: Any) -> bool:
    """Whether the case's body matches the document. The coverage phase sends a body of ``0``
    as "valid" while it varies a path parameter of an operation whose body has a string with
    a large maxLength (an article's 1,000,000 characters): such a case is not valid data."""
    body = case.operation.definition.raw.get("requestBody")
    if body is None or isinstance(case.body, bytes):
        return True  # nothing to check, or not JSON (the built-in check decides)
    if isinstance(case.body, NotSet):
        return not body.get("required", False)
    schema = body["content"]["application/json"]["schema"]
    root = {**schema, "components": case.operation.schema.raw_schema["components"]}
    return bool(jsonschema_rs.validator_for(root).is_valid(case.body))


@schemathesis.check
def accepts_valid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, less the refusals that depend on what is stored."""
    if not body_is_valid(case):
        return None
    if response.status_code == 422:
        fields = response.json().get("fields") or []
        if fields and all(f.get("type") in STATE_DEPENDENT for f in fields):
            return None
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]


@schemathesis.check
def rejects_invalid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """negative_data_rejection, less a batch that refused its invalid items one by one."""
    if case.operation.label == BATCH and response.status_code == 202:
        if response.json()["failed"] > 0:
            return None
    return negative_data_rejection(ctx, response, case)  # type: ignore[no-any-return]


@schemathesis.hook
def map_query(ctx: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """A valid ``wait`` is cut to MAX_WAIT seconds; invalid ones are sent as drawn."""
    try:
        wait = float((query or {}).get("wait"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return query
    if query is not None and MAX_WAIT < wait <= DEFAULT_MAX_WAIT_SECONDS:
        query["wait"] = str(MAX_WAIT)
    return query


def config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "continue-on-failure": True,
            "headers": {"Authorization": f"Bearer {API_KEYS['admin']}"},
            "generation": {"max-examples": EXAMPLES},
            "phases": {"stateful": {"max-steps": 8}},
            "checks": {
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"enabled": False},
            },
            "operations": [
                {  # not ready without a worker: the documented answer, not a server error
                    "include-name": "GET /readyz",
                    "checks": {
                        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}
                    },
                },
                {  # GET /v1/comments/batch is GET /v1/comments/{comment_id} (a comment may be
                    # called "batch"), so its Allow rightly names GET besides POST
                    "include-name": BATCH,
                    "checks": {"allow_header_conformance": {"enabled": False}},
                },
            ],
        }
    )


def failures(stream: Any) -> tuple[list[str], dict[str, int]]:
    found: list[str] = []
    cases: dict[str, int] = {}
    for event in stream:
        if isinstance(event, events.FatalError | events.NonFatalError):
            found.append(f"{type(event).__name__}: {getattr(event, 'info', event)}")
        if not isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            continue
        recorder = event.recorder
        phase = getattr(event, "phase", "fuzzing")
        cases[str(phase)] = cases.get(str(phase), 0) + len(recorder.cases)
        for nodes in recorder.checks.values():
            for node in nodes:
                if node.status == Status.FAILURE and node.failure_info is not None:
                    failure = node.failure_info.failure
                    found.append(
                        f"[{phase}] {recorder.label} {node.name}: {failure.title}\n"
                        f"{failure.message}\n{node.failure_info.code_sample}"
                    )
    return found, cases


# Hypothesis warns when it draws a long example's repr (a 10,000-character comment).
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_every_operation_answers_as_its_document_says(module_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", module_app, config=config())
    schema = schema.exclude(path_regex="^/v1alpha1/")
    found, cases = failures(from_schema(schema).execute())
    assert not found, f"{len(found)} failure(s):\n\n" + "\n\n".join(dict.fromkeys(found))
    # Each phase ran and the stateful one went past single calls.
    assert {"examples", "coverage", "fuzzing", "stateful"} <= {p.lower() for p in cases}, cases
