"""One JSON style: every key of every ``--json`` line and every API answer is PascalCase, and a search hit keeps its
labels (``Labels``) apart from the other entries it matched (``Matched``: colours, people by name, faces...)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.conftest import make_lens
from tests.serving import Served, serve

from pixlens.service import Pixlens

pytestmark = pytest.mark.slow

PIXLENS = str(Path(sys.executable).parent / "pixlens")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# The dicts whose keys are data, not field names: a query's unknown words (search, hooks add), the cascade's skipped
# steps ("text.recognition") and the analysers' names (a record's AnalyzerVersions).
DATA_KEYS = frozenset({"Unknown", "Skipped", "AnalyzerVersions"})
# An API error keeps the body that docs/API.md fixed: {"code", "message"} (+ "position" for a malformed query).
ERROR_BODY = frozenset({"code", "message", "position"})
NAME = "Alice Example"


def not_pascal(value: Any, where: str = "$") -> list[str]:
    """The paths of the keys that are not PascalCase, data keys and error bodies excepted."""
    if isinstance(value, list):
        return [bad for index, item in enumerate(value) for bad in not_pascal(item, f"{where}[{index}]")]
    if not isinstance(value, dict):
        return []
    if {"code", "message"} <= set(value) <= ERROR_BODY:
        return []
    found = [f"{where}.{key}" for key in value if not PASCAL.match(key)]
    for key, inner in value.items():
        if key not in DATA_KEYS:
            found += not_pascal(inner, f"{where}.{key}")
    return found


def test_the_check_finds_what_it_must() -> None:
    assert not_pascal({"Images": [{"ImageName": "a", "queue_depth": 1}]}) == ["$.Images[0].queue_depth"]
    assert not_pascal({"Skipped": {"text.recognition": "none"}, "Error": {"code": "x", "message": "y"}}) == []
    assert not_pascal({"Error": {"code": "x", "message": "y", "detail": 1}}) == ["$.Error.code", "$.Error.message",
                                                                                  "$.Error.detail"]  # fmt: skip


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def served(analysed: Pixlens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server over a copy of the 30 analysed samples, with a named person and a saved search."""
    home = tmp_path_factory.mktemp("style") / "home"
    shutil.copytree(analysed.settings.home, home)
    with serve(make_lens(home)) as server:
        person = server.client.get("/v1/people").json()["People"][0]["PersonId"]
        assert server.client.patch(f"/v1/people/{person}", json={"Name": NAME}).status_code == 200
        hook = {"Name": "blues", "Query": "color:blue", "Url": "http://127.0.0.1:9/"}  # port 9: refused
        added = server.client.post("/v1/hooks", json=hook)
        assert added.status_code == 201, added.text
        yield server


def cli(served: Served, *args: str) -> list[Any]:
    """The JSON lines a command prints (``show``: one indented document)."""
    home = str(served.runtime.lens.settings.home)
    done = subprocess.run([PIXLENS, "--home", home, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if args[0] == "show":
        return [json.loads(done.stdout)]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def queries(served: Served) -> list[str]:
    """Queries whose hits match every kind of entry: labels, a category, a colour, a person, faces, text."""
    facets = served.client.get("/v1/search", params={"q": ""}).json()["Facets"]
    color, category = facets["Colors"][0]["Name"], facets["Categories"][0]["Name"]
    return ["dog OR person", f"color:{color}", f'category:"{category}"', f'person:"{NAME}"', "faces>=1", "has:text",
            f'cat OR color:{color} OR has:text OR person:"{NAME}"']  # fmt: skip


def test_every_api_answer_is_pascal_case(served: Served) -> None:
    client = served.client
    answers: dict[str, Any] = {}
    for query in queries(served):
        answers[f"search {query}"] = client.get("/v1/search", params={"q": query}).json()
    key = answers["search dog OR person"]["Images"][0]["ImageName"]
    person = client.get("/v1/people").json()["People"][0]["PersonId"]
    gets = ["/healthz", "/readyz", "/v1/stats", "/v1/labels", "/v1/people", "/v1/duplicates", "/v1/hooks",
            "/v1/hooks/blues/deliveries", f"/v1/images/{key}", f"/v1/images/{key}/similar"]  # fmt: skip
    for path in gets:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        answers[path] = answer.json()
    answers["patch person"] = client.patch(f"/v1/people/{person}", json={"Name": NAME}).json()
    answers["add hook"] = client.post("/v1/hooks", json={"Name": "dogs", "Query": "dgo", "Url": "http://127.0.0.1:9/"})
    answers["add hook"] = answers["add hook"].json()
    files = [("file", ("new.png", png((200, 30, 30)), "image/png")), ("file", ("bad.png", b"no image", "image/png"))]
    answers["upload"] = client.post("/v1/images", files=files).json()
    answers["reanalyze"] = client.post("/v1/images/new.png/reanalyze").json()
    answers["invalid query"] = client.get("/v1/search", params={"q": "dog AND ("}).json()
    assert set(answers["invalid query"]) == {"code", "message", "position"}  # the error body, as documented
    assert answers["upload"]["Images"][1]["Error"]["code"] == "not_an_image"
    assert set(answers["/v1/stats"]) >= {"Images", "Analyzed", "QueueDepth", "Ready", "RecentFailures"}
    pages = [answer for name, answer in answers.items() if name.startswith("search")]
    assert {hit["Kind"] for page in pages for hit in _matched(page)} >= {"Color", "Person", "Faces", "Category"}
    assert {name: not_pascal(answer) for name, answer in answers.items() if not_pascal(answer)} == {}


def _matched(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for image in page["Images"] for entry in image["Matched"]]


def test_every_json_line_of_the_cli_is_pascal_case(served: Served, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "blue.png").write_bytes(png((20, 40, 220)))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    key = served.client.get("/v1/search", params={"q": "cat"}).json()["Images"][0]["ImageName"]
    printed: dict[str, list[Any]] = {
        "init": cli(served, "init", "--json"),
        "ingest": cli(served, "ingest", str(tmp_path / "in"), "--json"),
        "reconcile --dry-run": cli(served, "reconcile", "--dry-run", "--json"),
        "reconcile": cli(served, "reconcile", "--json"),
        "show": cli(served, "show", key),
        "similar": cli(served, "similar", key, "--json"),
        "duplicates": cli(served, "duplicates", "--json"),
        "people": cli(served, "people", "--json"),
        "labels": cli(served, "labels", "--json", "--limit", "20"),
        "stats": cli(served, "stats", "--json"),
        "check": cli(served, "check", "--json"),
        "keys create": cli(served, "keys", "create", "--scope", "read", "--json"),
        "keys list": cli(served, "keys", "list", "--json"),
        "hooks list": cli(served, "hooks", "list", "--json"),
        "hooks deliver": cli(served, "hooks", "deliver", "--json"),  # matches the blue image first
        "hooks log": cli(served, "hooks", "log", "--json"),
    }
    for query in queries(served):
        printed[f"search {query}"] = cli(served, "search", query, "--json")
    assert all(printed.values()), [name for name, lines in printed.items() if not lines]
    assert printed["ingest"][-1]["Summary"]["Analyzed"] == 1 and printed["ingest"][-1]["Skipped"] == 1
    assert printed["stats"][0]["Images"] >= 31 and "WithText" in printed["stats"][0]
    assert set(printed["hooks deliver"][0]) == {"Delivered", "Retrying", "Dead"}
    assert {name: not_pascal(lines) for name, lines in printed.items() if not_pascal(lines)} == {}


def test_colors_people_and_faces_are_matched_not_labels(served: Served) -> None:
    client = served.client
    facets = client.get("/v1/search", params={"q": ""}).json()["Facets"]
    color = facets["Colors"][0]["Name"]
    people = client.get("/v1/people").json()["People"]
    alice = next(person for person in people if person["Name"] == NAME)

    by_color = client.get("/v1/search", params={"q": f"color:{color}"}).json()["Images"]
    assert by_color and all(hit["Labels"] == [] for hit in by_color)
    for hit in by_color:
        assert [(entry["Kind"], entry["Name"]) for entry in hit["Matched"]] == [("Color", color)]
        assert 0 < hit["Matched"][0]["Score"] <= 100

    by_person = client.get("/v1/search", params={"q": f'person:"{NAME}" OR person', "limit": 100}).json()["Images"]
    named = [hit for hit in by_person if any(entry["Kind"] == "Person" for entry in hit["Matched"])]
    assert len(named) == alice["Images"]
    for hit in named:
        person = next(entry for entry in hit["Matched"] if entry["Kind"] == "Person")
        assert person == {"Kind": "Person", "PersonId": alice["PersonId"], "Name": NAME, "Score": person["Score"]}
        assert not any(label["Name"].startswith(("person:", "color:")) for label in hit["Labels"])
    assert any(hit["Labels"] for hit in named)  # the label Person, found by the word "person", beside the person

    faces = client.get("/v1/search", params={"q": "faces>=2"}).json()["Images"]
    assert faces and all(hit["Labels"] == [] for hit in faces)
    assert all(hit["Matched"] == [{"Kind": "Faces", "Count": hit["Matched"][0]["Count"]}] for hit in faces)
    assert all(hit["Matched"][0]["Count"] >= 2 for hit in faces)

    category = facets["Categories"][0]["Name"]
    in_category = client.get("/v1/search", params={"q": f'category:"{category}"'}).json()["Images"]
    assert in_category and all(hit["Labels"] == [] for hit in in_category)
    for hit in in_category:
        assert {entry["Kind"] for entry in hit["Matched"]} == {"Category"}
        assert category in {entry["Name"] for entry in hit["Matched"]}


def test_cli_and_api_print_the_same_hits_with_matched(served: Served) -> None:
    for query in queries(served):
        from_api = served.client.get("/v1/search", params={"q": query}).json()["Images"]
        assert cli(served, "search", query, "--json") == from_api, query
