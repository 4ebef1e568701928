"""The HTTP API over real HTTP: a real server (uvicorn) over real homes, sample photos, SQLite."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from tests.conftest import SAMPLES, make_lens
from tests.serving import Served, serve

from pixlens.access import Scope, create_key, revoke_key
from pixlens.api.server import key_verifier, run_server
from pixlens.errors import ConfigError
from pixlens.service import Pixlens

pytestmark = pytest.mark.slow

FAST = ["labels", "embedding", "thumbnail"]


@pytest.fixture(scope="module")
def catalogued(analysed: Pixlens, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server over a copy of the 30 analysed samples (tests may change it: name people, delete)."""
    home = tmp_path_factory.mktemp("api") / "home"
    shutil.copytree(analysed.settings.home, home)
    with serve(make_lens(home)) as served:
        yield served


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Served]:
    with serve(make_lens(tmp_path / "home", analyzers=FAST)) as served:
        yield served


def upload(served: Served, *files: tuple[str, bytes], keys: list[str] | None = None, **params: str) -> httpx.Response:
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    data = {"key": keys} if keys else None
    return served.client.post("/v1/images", files=parts, data=data, params=params)


def sample(name: str) -> tuple[str, bytes]:
    return name, (SAMPLES / name).read_bytes()


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


# -- health, schema ----
def test_health_readiness_schema_and_docs(catalogued: Served) -> None:
    client = catalogued.client
    assert client.get("/healthz").json()["Status"] == "ok"
    assert client.get("/readyz").json()["Status"] == "ready"
    schema = client.get("/openapi.json").json()
    for path in ("/v1/images", "/v1/search", "/v1/images/{key}", "/v1/people/{person_id}", "/v1/stats"):
        assert path in schema["paths"]
    assert "multipart/form-data" in schema["paths"]["/v1/images"]["post"]["requestBody"]["content"]
    docs = client.get("/docs").text
    assert "swagger" in docs.lower() and "https://" not in docs  # offline: nothing from a CDN
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


# -- uploads ----
def test_upload_is_analysed_and_served(fresh: Served) -> None:
    answer = upload(fresh, sample("chelsea.png"))
    assert answer.status_code == 202
    (image,) = answer.json()["Images"]
    assert image["ImageName"] == "chelsea.png" and image["Status"] == "pending"
    assert image["Location"] == "/v1/images/chelsea.png"
    record = fresh.wait_for("chelsea.png")
    assert "Cat" in {label["Name"] for label in record["Labels"]}
    original = fresh.client.get("/v1/images/chelsea.png/original")
    assert original.content == (SAMPLES / "chelsea.png").read_bytes()
    assert original.headers["content-type"] == "image/png"
    thumbnail = fresh.client.get("/v1/images/chelsea.png/thumbnail")
    assert thumbnail.headers["content-type"] == "image/webp" and thumbnail.content[8:12] == b"WEBP"
    hits = fresh.client.get("/v1/search", params={"q": "cat"}).json()["Images"]
    assert [hit["ImageName"] for hit in hits] == ["chelsea.png"]


def test_same_bytes_again_are_unchanged_and_other_bytes_are_renamed(fresh: Served) -> None:
    upload(fresh, ("photo.png", png((200, 10, 10))))
    fresh.wait_for("photo.png")
    again = upload(fresh, ("photo.png", png((200, 10, 10)))).json()["Images"][0]
    assert again == {"ImageName": "photo.png", "Status": "unchanged", "Location": "/v1/images/photo.png", "Error": None}
    other = upload(fresh, ("photo.png", png((10, 200, 10)))).json()["Images"][0]
    assert other["ImageName"] == "photo (2).png"
    refused = upload(fresh, ("photo.png", png((10, 10, 200))), on_conflict="fail")
    assert refused.status_code == 409 and refused.json()["code"] == "key_exists"
    fresh.wait_for("photo (2).png")
    assert fresh.client.get("/v1/images/photo.png/original").content == png((200, 10, 10))


def test_many_files_and_client_keys(fresh: Served) -> None:
    answer = upload(fresh, ("a.png", png((1, 2, 3))), ("b.png", png((4, 5, 6))), keys=["trip/one.png", "trip/two"])
    assert answer.status_code == 202
    assert [image["ImageName"] for image in answer.json()["Images"]] == ["trip/one.png", "trip/two"]
    assert fresh.wait_for("trip/two")["ContentType"] == "image/png"  # named by its content, not its name


@pytest.mark.parametrize(
    "key", ["../escape.png", "/etc/passwd", "a/../../b.png", "a\\b.png", "bell\x07.png", "a//b.png", "x" * 1100]
)
def test_hostile_keys_are_refused_and_nothing_leaves_the_store(fresh: Served, key: str) -> None:
    answer = upload(fresh, ("x.png", png((9, 9, 9))), keys=[key])
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_key"
    home = fresh.runtime.lens.settings.home
    assert not (home.parent / "escape.png").exists() and not (home / "escape.png").exists()
    assert fresh.client.get("/v1/stats").json()["Images"] == 0


def test_hostile_file_names_become_safe_keys(fresh: Served) -> None:
    answer = upload(fresh, ("../../evil\x1b[31m.png", png((50, 60, 70)))).json()["Images"][0]
    assert answer["ImageName"] == "evil[31m.png"
    assert (fresh.runtime.lens.settings.store_path / "evil[31m.png").is_file()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_an_image"),
        (b"<html><script>alert(1)</script></html>", "not_an_image"),
        (b"%PDF-1.4 not an image at all" * 10, "not_an_image"),
    ],
)
def test_what_is_not_an_image_is_refused_by_its_content(fresh: Served, data: bytes, code: str) -> None:
    answer = upload(fresh, ("holiday.jpg", data))
    assert answer.status_code == 415 and answer.json()["code"] == code
    assert not list(fresh.runtime.lens.settings.store_path.glob("*"))


def test_mixed_upload_reports_each_file(fresh: Served) -> None:
    answer = upload(fresh, ("good.png", png((1, 1, 1))), ("bad.jpg", b"not an image"))
    assert answer.status_code == 202
    good, bad = answer.json()["Images"]
    assert good["Status"] == "pending" and bad["Status"] == "rejected" and bad["Error"]["code"] == "not_an_image"


def test_size_and_count_limits(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    lens.settings.api = lens.settings.api.model_copy(
        update={"max_upload_bytes": 5000, "max_files": 2, "max_request_bytes": 200_000}
    )
    with serve(lens) as served:
        big = png((1, 2, 3), (400, 400)) + b"\0" * 6000
        too_large = upload(served, ("big.png", big))
        assert too_large.status_code == 413 and too_large.json()["code"] == "too_large"
        body = upload(served, ("huge.png", b"\x89PNG" + b"\0" * 300_000))
        assert body.status_code == 413 and body.json()["code"] == "too_large"
        lens.settings.decode.max_pixels = 1000
        pixels = upload(served, ("wide.png", png((1, 2, 3), (50, 40))))
        assert pixels.status_code == 413 and "megapixels" in pixels.json()["message"]
        lens.settings.decode.max_pixels = 100_000_000
        many = upload(served, *[(f"{n}.png", png((n, n, n))) for n in range(3)])
        assert many.status_code == 400 and "files" in many.json()["message"].lower()
        assert served.client.get("/v1/stats").json()["Images"] == 0
        assert served.client.get("/healthz").status_code == 200  # still serving


def test_malformed_requests_get_json_errors(fresh: Served) -> None:
    client = fresh.client
    no_file = client.post("/v1/images", data={"key": "x.png"})
    assert no_file.status_code == 400 and no_file.json()["code"] == "bad_request"
    not_multipart = client.post("/v1/images", content=b"{}", headers={"content-type": "application/json"})
    assert not_multipart.status_code == 400
    assert client.get("/v1/search", params={"q": "x" * 5000}).json()["code"] == "invalid_query"  # too long
    assert client.get("/v1/search", params={"q": "cat", "limit": "0"}).status_code == 400
    missing = client.get("/v1/images/nothing.png")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get("/v1/nowhere").json()["code"] == "not_found"
    assert client.patch("/v1/people/999", json={"Name": "X"}).json()["code"] == "not_found"
    assert client.patch("/v1/people/1", content=b"not json").status_code == 400


# -- search ----
def test_malformed_query_says_where(catalogued: Served) -> None:
    answer = catalogued.client.get("/v1/search", params={"q": "dog AND (cat"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_query" and isinstance(body["position"], int)


def test_cursor_pages_cover_every_hit_once(catalogued: Served) -> None:
    everything = catalogued.client.get("/v1/search", params={"q": "-zebra", "limit": 1000, "facets": "false"}).json()
    expected = [hit["ImageName"] for hit in everything["Images"]]
    assert len(expected) == everything["Total"] >= 25
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "-zebra", "limit": 4, "facets": "false", **({"cursor": cursor} if cursor else {})}
        page = catalogued.client.get("/v1/search", params=params).json()
        seen += [hit["ImageName"] for hit in page["Images"]]
        cursor = page["NextCursor"]
        if cursor is None:
            break
    assert seen == expected


def test_cursor_is_stable_while_images_arrive(fresh: Served) -> None:
    for n in range(6):
        upload(fresh, (f"old{n}.png", png((20 * n, 100, 50))))
    for n in range(6):
        fresh.wait_for(f"old{n}.png")
    first = fresh.client.get("/v1/search", params={"q": "-zebra", "limit": 3}).json()
    for n in range(3):  # new images: the newest rank first among equals, ahead of the cursor
        upload(fresh, (f"new{n}.png", png((100, 20 * n, 200))))
    for n in range(3):
        fresh.wait_for(f"new{n}.png")
    rest: list[str] = []
    cursor = first["NextCursor"]
    while cursor:
        page = fresh.client.get("/v1/search", params={"q": "-zebra", "limit": 3, "cursor": cursor}).json()
        rest += [hit["ImageName"] for hit in page["Images"]]
        cursor = page["NextCursor"]
    shown = [hit["ImageName"] for hit in first["Images"]] + rest
    old = [name for name in shown if name.startswith("old")]
    assert sorted(old) == [f"old{n}.png" for n in range(6)]  # none skipped, none twice
    assert len(shown) == len(set(shown))


def test_bad_cursors_are_refused(catalogued: Served) -> None:
    page = catalogued.client.get("/v1/search", params={"q": "person", "limit": 2}).json()
    assert page["NextCursor"]
    other = catalogued.client.get("/v1/search", params={"q": "cat", "cursor": page["NextCursor"]})
    assert other.status_code == 400 and other.json()["code"] == "invalid_cursor"
    for junk in ("garbage", "eyJ4IjogMX0", "W251bGwsIDEsICJ4Il0"):
        answer = catalogued.client.get("/v1/search", params={"q": "person", "cursor": junk})
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_cursor"


def test_facets_count_the_whole_result(catalogued: Served) -> None:
    client = catalogued.client
    page = client.get("/v1/search", params={"q": "person", "limit": 1}).json()
    facets = page["Facets"]
    assert len(page["Images"]) == 1 and page["Total"] > 1
    for facet in facets["Labels"][:5]:
        narrowed = client.get("/v1/search", params={"q": f'person AND "{facet["Name"]}"', "facets": "false"})
        assert narrowed.json()["Total"] == facet["Count"], facet
    for color in facets["Colors"][:3]:
        narrowed = client.get("/v1/search", params={"q": f"person AND color:{color['Name']}", "facets": "false"})
        assert narrowed.json()["Total"] == color["Count"]
    with_faces = client.get("/v1/search", params={"q": "person AND has:faces", "facets": "false"}).json()
    assert with_faces["Total"] == facets["Faces"] > 0
    with_text = client.get("/v1/search", params={"q": "person AND has:text", "facets": "false"}).json()
    assert with_text["Total"] == facets["HasText"]


def test_cli_and_api_print_the_same_shapes(catalogued: Served) -> None:
    home = str(catalogued.runtime.lens.settings.home)
    command = [str(Path(sys.executable).parent / "pixlens"), "--home", home]

    def printed(*args: str) -> list[Any]:
        lines = subprocess.run([*command, *args, "--json"], capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in lines.splitlines()]

    for query in ("dog OR person", "person AND (has:text OR faces OR color:black OR category:animals)"):
        from_api = catalogued.client.get("/v1/search", params={"q": query}).json()["Images"]
        assert printed("search", query) == from_api and from_api
    assert any(hit["Matched"] for hit in from_api)
    shown = subprocess.run([*command, "show", "chelsea.png"], capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout) == catalogued.client.get("/v1/images/chelsea.png").json()
    assert printed("labels") == catalogued.client.get("/v1/labels").json()["Labels"]
    people = [
        {k: v for k, v in row.items() if k != "Face"} for row in catalogued.client.get("/v1/people").json()["People"]
    ]
    assert printed("people") == people
    stats, served_stats = printed("stats")[0], catalogued.client.get("/v1/stats").json()
    del stats["Bytes"]  # the catalog's size on disk moves while the server writes its caches
    assert {key: served_stats[key] for key in stats} == stats  # the API's stats are the CLI's, and the queue's


# -- the rest ----
def test_people_are_named_over_the_api(catalogued: Served) -> None:
    people = catalogued.client.get("/v1/people").json()["People"]
    assert people and people[0]["Face"]["ImageName"] and set(people[0]["Face"]["BoundingBox"]) >= {"Left", "Top"}
    person = people[0]["PersonId"]
    named = catalogued.client.patch(f"/v1/people/{person}", json={"Name": "Ada <b>Lovelace</b>"})
    assert named.status_code == 200 and named.json()["Name"] == "Ada <b>Lovelace</b>"
    found = catalogued.client.get("/v1/search", params={"q": 'person:"Ada <b>Lovelace</b>"'}).json()
    assert found["Total"] == people[0]["Images"]
    face_image = catalogued.client.get(f"/v1/images/{people[0]['Face']['ImageName']}").json()
    assert "Ada <b>Lovelace</b>" in {face.get("PersonName") for face in face_image["FaceDetails"]}
    assert catalogued.client.patch(f"/v1/people/{person}", json={"Name": None}).json()["Name"] is None


def test_similar_duplicates_labels_stats(catalogued: Served) -> None:
    client = catalogued.client
    similar = client.get("/v1/images/chelsea.png/similar", params={"limit": 3}).json()["Images"]
    assert len(similar) == 3 and all(0 <= item["Similarity"] <= 1.0001 for item in similar)
    assert "Groups" in client.get("/v1/duplicates").json()
    labels = client.get("/v1/labels", params={"limit": 5}).json()["Labels"]
    assert len(labels) == 5 and labels[0]["Images"] >= labels[-1]["Images"]
    stats = client.get("/v1/stats").json()
    assert stats["Analyzed"] >= 30 and stats["QueueDepth"] == 0 and stats["Ready"] is True


def test_delete_removes_file_record_and_thumbnail(fresh: Served) -> None:
    upload(fresh, sample("coffee.png"))
    record = fresh.wait_for("coffee.png")
    thumbnail = fresh.runtime.lens.settings.home / record["Thumbnail"]
    assert thumbnail.is_file()
    assert fresh.client.delete("/v1/images/coffee.png").status_code == 204
    assert fresh.client.get("/v1/images/coffee.png").status_code == 404
    assert not (fresh.runtime.lens.settings.store_path / "coffee.png").exists()
    assert not thumbnail.exists()
    assert fresh.client.delete("/v1/images/coffee.png").status_code == 404
    assert fresh.client.get("/v1/search", params={"q": "espresso"}).json()["Total"] == 0


def test_reanalyze_runs_every_analyser_again(fresh: Served) -> None:
    upload(fresh, ("plain.png", png((30, 30, 30))))
    before = fresh.wait_for("plain.png")
    time.sleep(1.1)  # AnalyzedAt has whole seconds
    answer = fresh.client.post("/v1/images/plain.png/reanalyze")
    assert answer.status_code == 202 and answer.json()["Status"] == "pending"
    deadline = time.monotonic() + 60
    after = before
    while after["AnalyzedAt"] == before["AnalyzedAt"] and time.monotonic() < deadline:
        time.sleep(0.1)
        after = fresh.client.get("/v1/images/plain.png").json()
    assert after["AnalyzedAt"] != before["AnalyzedAt"] and after["ContentSha256"] == before["ContentSha256"]
    assert fresh.client.post("/v1/images/none.png/reanalyze").status_code == 404


def test_metrics(fresh: Served) -> None:
    upload(fresh, ("m.png", png((5, 5, 5))))
    fresh.wait_for("m.png")
    upload(fresh, ("bad.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100))  # sniffs as PNG, fails to decode
    fresh.wait_for("bad.png", status="failed")
    text = fresh.client.get("/metrics").text
    assert "pixlens_images_analyzed_total 1.0" in text
    assert 'pixlens_images_failed_total{reason="' in text
    assert 'pixlens_analyzer_seconds_per_image_count{analyzer="labels"}' in text
    assert 'route="/v1/images/{key:path}"' in text  # the route's template, never a raw path
    assert "pixlens_queue_depth" in text
    failures = fresh.client.get("/v1/stats").json()["RecentFailures"]
    assert failures[0]["ImageName"] == "bad.png" and failures[0]["Error"]


# -- access ----
def test_keys_and_scopes(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    _, reader = create_key(lens.catalog, Scope.READ, "reader")
    writer_row, writer = create_key(lens.catalog, Scope.WRITE, "writer")
    verifier = key_verifier(lens)
    assert verifier is not None
    with serve(lens, verifier) as served:
        client = served.client
        assert client.get("/v1/stats").status_code == 401
        assert client.get("/v1/stats").json()["code"] == "unauthorized"
        assert client.get("/v1/stats", headers={"Authorization": "Bearer plk_wrong"}).status_code == 401
        assert client.get("/v1/stats", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        assert client.get("/v1/stats", headers={"X-Api-Key": reader}).status_code == 200
        refused = client.post("/v1/images", files=[("file", ("a.png", png((1, 1, 1))))], headers={"X-Api-Key": reader})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        allowed = client.post("/v1/images", files=[("file", ("a.png", png((1, 1, 1))))], headers={"X-Api-Key": writer})
        assert allowed.status_code == 202
        revoke_key(lens.catalog, writer_row.id)
        assert client.get("/v1/stats", headers={"X-Api-Key": writer}).status_code == 401
        assert client.get("/healthz").status_code == 200  # probes need no key


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    lens.settings.api = lens.settings.api.model_copy(update={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="no API key"):
        run_server(lens, print)


def test_concurrent_uploads_under_one_name_lose_nothing(fresh: Served) -> None:
    colors = [(n * 20, 255 - n * 20, 7) for n in range(10)]

    def send(color: tuple[int, int, int]) -> str:
        with httpx.Client(base_url=fresh.url, timeout=60) as client:
            answer = client.post("/v1/images", files=[("file", ("same.png", png(color)))])
            assert answer.status_code == 202, answer.text
            return str(answer.json()["Images"][0]["ImageName"])

    with ThreadPoolExecutor(10) as pool:
        keys = list(pool.map(send, colors))
    assert len(set(keys)) == 10  # ten different photos, ten keys: none replaced another
    stored = {(fresh.runtime.lens.settings.store_path / key).read_bytes() for key in keys}
    assert stored == {png(color) for color in colors}
    for key in keys:
        fresh.wait_for(key)


def test_a_killed_server_loses_no_upload(tmp_path: Path) -> None:
    """kill -9 while uploads wait for analysis: the next start analyses every one of them."""
    home = tmp_path / "home"
    port = free_port()
    command = [str(Path(sys.executable).parent / "pixlens"), "--home", str(home), "serve", "--port", str(port)]
    keys = [f"k{n}.png" for n in range(8)]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_ready(client)
            for n, key in enumerate(keys):
                data = (SAMPLES / "astronaut.png").read_bytes() if n == 0 else png((n, 2 * n, 3 * n), (900, 700))
                assert client.post("/v1/images", files=[("file", (key, data))]).status_code == 202
    finally:
        server.kill()
        server.wait()
    lens = make_lens(home)
    pending = [state.key for state in lens.catalog.states() if state.status.value == "pending"]
    lens.close()
    assert pending, "everything was analysed before the kill: the test proves nothing"
    restarted = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_ready(client)
            deadline = time.monotonic() + 180
            while client.get("/v1/stats").json()["Analyzed"] < len(keys) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.get("/v1/stats").json()["Analyzed"] == len(keys)
    finally:
        restarted.terminate()
        assert restarted.wait(60) == 0  # a graceful stop
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(client: httpx.Client, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("pixlens serve did not get ready")


def test_reads_from_many_clients_while_uploads_are_analysed(fresh: Served) -> None:
    """The library behind the API is shared by every request thread and the workers: no error, no lost image."""
    uploaded = [f"busy{n}.png" for n in range(6)]
    paths = ["/v1/search?q=-zebra", "/v1/stats", "/v1/labels", "/v1/people", "/v1/duplicates", "/metrics"]

    def read(index: int) -> list[int]:
        with httpx.Client(base_url=fresh.url, timeout=60) as client:
            return [client.get(paths[(index + n) % len(paths)]).status_code for n in range(12)]

    with ThreadPoolExecutor(8) as pool:
        readers = [pool.submit(read, index) for index in range(8)]
        for n, key in enumerate(uploaded):
            assert upload(fresh, (key, png((n * 30, 90, 140), (320, 240)))).status_code == 202
        statuses = [status for reader in readers for status in reader.result()]
    assert set(statuses) == {200}
    for key in uploaded:
        fresh.wait_for(key)
    assert fresh.client.get("/v1/search", params={"q": "-zebra"}).json()["Total"] == len(uploaded)


def test_an_empty_query_is_every_image_newest_first(catalogued: Served) -> None:
    everything = catalogued.client.get("/v1/search", params={"limit": 1000}).json()
    stats = catalogued.client.get("/v1/stats").json()
    assert everything["Total"] == stats["Analyzed"] and everything["Unknown"] == {}
    blank = catalogued.client.get("/v1/search", params={"q": "   ", "limit": 1000}).json()
    assert [hit["ImageName"] for hit in blank["Images"]] == [hit["ImageName"] for hit in everything["Images"]]
    assert everything["Facets"]["Labels"][0]["Count"] <= everything["Total"]


def test_the_throughput_window_is_kept_short_without_anyone_reading_it(lens: Pixlens) -> None:
    """A server nobody asks for /v1/stats must not keep a timestamp per image analysed for ever."""
    from pixlens.api.runtime import Runtime
    from pixlens.pipeline import Outcome, Result

    runtime = Runtime(lens, watch=False)
    runtime.finished.extend([0.0] * 1000)  # analysed long ago
    runtime._done(Result("new.png", Outcome.ANALYZED))
    assert len(runtime.finished) == 1


def test_an_image_named_like_a_sub_resource_is_still_reached(fresh: Served) -> None:
    data = png((12, 34, 56))
    assert upload(fresh, ("x.png", data), keys=["trip/original"]).status_code == 202
    fresh.wait_for("trip/original")
    assert fresh.client.get("/v1/images/trip/original").json()["ImageName"] == "trip/original"  # its record
    assert fresh.client.get("/v1/images/trip/original/original").content == data  # its bytes
    assert fresh.client.get("/v1/images/trip/thumbnail").json()["code"] == "not_found"
