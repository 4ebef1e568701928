"""/v1/hooks: saved searches with webhooks over HTTP, admin keys only (the app as pixlens serve makes it, served
by a real uvicorn on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.conftest import make_lens

from pixlens.access import Scope, create_key, verify
from pixlens.api.app import create_app
from pixlens.api.runtime import Runtime
from pixlens.record import ImageRecord, Status
from pixlens.service import Pixlens
from pixlens.webhooks import Webhooks


@pytest.fixture
def keys(lens: Pixlens) -> dict[str, str]:
    return {scope.label: create_key(lens.catalog, scope)[1] for scope in Scope}


@pytest.fixture
def client(lens: Pixlens) -> Iterator[httpx.Client]:
    def scope_of(presented: str | None) -> str | None:
        found = verify(lens.catalog, presented) if presented else None
        return found.scope.label if found else None

    app = create_app(Runtime(lens, watch=False), scope_of)  # the workers are not started: not needed here
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        threading.Event().wait(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(30)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_hooks_are_added_listed_logged_and_removed(client: httpx.Client, keys: dict[str, str], lens: Pixlens) -> None:
    admin = auth(keys["admin"])
    added = client.post(
        "/v1/hooks", json={"Name": "cats", "Query": "cat", "Url": "https://example.org/h", "Secret": "s"}, headers=admin
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["Name"] == "cats" and body["HasSecret"] is True and "Secret" not in body and body["Unknown"] == {}
    assert "s" not in body.values()  # the secret is never shown
    listed = client.get("/v1/hooks", headers={"X-Api-Key": keys["admin"]}).json()
    assert [hook["Name"] for hook in listed["Hooks"]] == ["cats"]
    assert client.get("/v1/hooks/cats/deliveries", headers=admin).json() == {"Deliveries": []}
    assert client.delete("/v1/hooks/cats", headers=admin).status_code == 204
    gone = client.delete("/v1/hooks/cats", headers=admin)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    assert client.get("/v1/hooks/cats/deliveries", headers=admin).status_code == 404


def test_deliveries_are_listed_newest_first(client: httpx.Client, keys: dict[str, str], lens: Pixlens) -> None:
    admin = auth(keys["admin"])
    client.post("/v1/hooks", json={"Name": "all", "Query": "-giraffe", "Url": "http://127.0.0.1:9/"}, headers=admin)
    lens.catalog.put(  # an empty home: records put as the pipeline puts them
        [ImageRecord(ImageName=name, Status=Status.ANALYZED) for name in ("a.jpg", "b.jpg")]
    )
    assert Webhooks(lens).on_analyzed(["a.jpg"]) == 1
    assert Webhooks(lens).on_analyzed(["b.jpg"]) == 1
    found = client.get("/v1/hooks/all/deliveries?limit=5", headers=admin).json()["Deliveries"]
    assert [row["ImageName"] for row in found] == ["b.jpg", "a.jpg"]
    assert found[0]["Status"] == "pending" and found[0]["Attempts"] == 0 and found[0]["NextAttemptAt"]
    assert client.get("/v1/hooks/all/deliveries?limit=0", headers=admin).status_code == 400


@pytest.mark.parametrize("scope", ["read", "write"])
def test_only_admin_keys_may_touch_hooks(client: httpx.Client, keys: dict[str, str], scope: str) -> None:
    headers = auth(keys[scope])
    for answer in (
        client.get("/v1/hooks", headers=headers),
        client.post("/v1/hooks", json={"Name": "x", "Query": "cat", "Url": "http://a/"}, headers=headers),
        client.delete("/v1/hooks/x", headers=headers),
        client.get("/v1/hooks/x/deliveries", headers=headers),
    ):
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


def test_no_key_or_a_wrong_one_is_unauthorized(client: httpx.Client, keys: dict[str, str]) -> None:
    assert client.get("/v1/hooks").json()["code"] == "unauthorized"
    wrong = client.post("/v1/hooks", json={"bad": 1}, headers=auth(keys["admin"] + "x"))
    assert wrong.status_code == 401  # before the body is even looked at


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({"Name": "q", "Query": "dog AND (cat", "Url": "http://a/"}, 400, "invalid_query", "unmatched"),
        ({"Name": "q", "Query": "cat", "Url": "ftp://a/"}, 400, "bad_request", "only http:// and https://"),
        ({"Name": "a/b", "Query": "cat", "Url": "http://a/"}, 400, "bad_request", "invalid hook name"),
        ({"Name": "q", "Query": "cat", "Url": "http://a/", "Secret": ""}, 400, "bad_request", "secret is empty"),
        ({"Name": "q", "Query": "cat"}, 400, "bad_request", "Url"),
        ({"Name": "q", "Query": "cat", "Url": "http://a/", "Extra": 1}, 400, "bad_request", "Extra"),
        ({"Name": "taken", "Query": "cat", "Url": "http://a/"}, 409, "hook_exists", "exists"),
    ],
)
def test_bad_hooks_are_refused_with_a_code(
    client: httpx.Client, keys: dict[str, str], body: dict[str, object], status: int, code: str, says: str
) -> None:
    admin = auth(keys["admin"])
    client.post("/v1/hooks", json={"Name": "taken", "Query": "cat", "Url": "http://a/"}, headers=admin)
    answer = client.post("/v1/hooks", json=body, headers=admin)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and says in answer.json()["message"]
    if code == "invalid_query":
        assert answer.json()["position"] == 8
    assert len(client.get("/v1/hooks", headers=admin).json()["Hooks"]) == 1


def test_an_upload_that_matches_a_saved_search_is_delivered_end_to_end(tmp_path: Path, samples_dir: Path) -> None:
    """The whole path in one served process: upload -> analysed -> matched -> POSTed, signed, to a receiver."""
    from tests.serving import serve
    from tests.test_webhooks import Receiver

    receiver = Receiver()
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    Webhooks(lens).add("cats", "cat", receiver.url, secret="s3cret")
    try:
        with serve(lens) as served:
            for name in ("chelsea.png", "rocket.jpg"):
                data = (samples_dir / name).read_bytes()
                assert served.client.post("/v1/images", files=[("file", (name, data))]).status_code == 202
            served.wait_for("rocket.jpg")
            served.wait_for("chelsea.png")
            assert receiver.arrived.wait(30), "no delivery arrived"
            time.sleep(0.5)  # a wrong second delivery (the rocket) would arrive by now
    finally:
        receiver.close()
    ((_, headers, body),) = receiver.requests
    assert json.loads(body)["Record"]["ImageName"] == "chelsea.png"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Pixlens-Signature"] == f"sha256={expected}"
