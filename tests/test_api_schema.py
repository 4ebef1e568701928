"""Schemathesis against the served /openapi.json, over real HTTP: for requests generated from the schema, valid
ones and invalid ones, no 5xx, and every answer matches the schema (status, content type, body)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from tests.conftest import make_lens
from tests.serving import Served, serve

from pixlens.service import Pixlens

pytestmark = pytest.mark.slow

EXAMPLES = 25  # per operation and mode
# Left out: "schema-valid requests are accepted". No schema can say which strings are well-formed queries,
# cursors or image bytes; those answer 400 or 415 with a JSON error, which the other checks do verify.
# Left out for multipart bodies only: "schema-violating requests are rejected". A form part carries text or bytes,
# so a key mutated to null or a number arrives as the valid key "null" or "12"; nothing was violated on the wire.


@pytest.fixture(scope="module")
def served(analysed: Pixlens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("schema") / "home"
    shutil.copytree(analysed.settings.home, home)
    with serve(make_lens(home, analyzers=["labels", "thumbnail"])) as running:
        yield running


def checker(strategy: Any, url: str, excluded: list[Any]) -> Callable[[], None]:
    """A Hypothesis test of one operation: every generated request answered as the schema says."""

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, excluded_checks=excluded)

    return check  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_server_errors_and_answers_match_the_schema(served: Served, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode)
        excluded = [positive_data_acceptance]
        if any(body.media_type.startswith("multipart/") for body in operation.body):
            excluded.append(negative_data_rejection)

        check = checker(strategy, served.url, excluded)

        try:
            check()
        except Unsatisfiable:
            continue  # negative mode: nothing in this operation can be made invalid (a free string, no input)
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert served.client.get("/healthz").status_code == 200
