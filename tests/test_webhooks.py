"""Saved searches with webhooks, delivered to a real HTTP receiver on 127.0.0.1.

The photos are analysed once for the module (labels only: a cat, a second cat and a rocket); each test works on a
copy of that home, so that its hooks and deliveries are its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, make_lens
from pixlens import __version__
from pixlens.catalog.base import DeliveryRow
from pixlens.cli import app
from pixlens.errors import AccessError, QueryError
from pixlens.service import Pixlens
from pixlens.webhooks import Webhooks, iso

CAT, OTHER_CAT, ROCKET = "chelsea.png", "000000358083.jpg", "rocket.jpg"
PHOTOS = (CAT, OTHER_CAT, ROCKET)
LATER = 10 * 3600.0  # far enough ahead for any backoff to be due


class Receiver:
    """A real HTTP server that records every request and answers with the scripted statuses, then 200."""

    def __init__(self, statuses: tuple[int, ...] = (), headers: dict[str, str] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                answer = b"ok" if status < 300 else b"receiver says <b>no</b>\n\n  really"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pixlens"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hooks-template") / "home"
    store = home / "images"
    store.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, store / name)
    lens = make_lens(home, analyzers=["labels"])
    try:
        report = lens.ingest([store])
        assert {result.outcome.value for result in report.results} == {"analyzed"}
        assert {hit.key for hit in lens.search("cat").hits} == {CAT, OTHER_CAT}  # what the tests rest on
    finally:
        lens.close()
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    return copy


@pytest.fixture
def lens(home: Path) -> Iterator[Pixlens]:
    instance = make_lens(home, analyzers=["labels"], hooks={"max_attempts": 3})
    yield instance
    instance.close()


def only(lens: Pixlens, hook: str | None = None) -> DeliveryRow:
    rows = lens.catalog.deliveries(hook)
    assert len(rows) == 1, rows
    return rows[0]


# --- matching and delivering -------------------------------------------------------------------------------
def test_a_matching_image_is_delivered_signed_with_its_record(lens: Pixlens, receiver: Receiver) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", receiver.url, secret="s3cret")
    assert hooks.on_analyzed([CAT, ROCKET]) == 1  # the rocket is no cat
    assert hooks.deliverer.run_due() == {"delivered": 1, "retrying": 0, "dead": 0}
    assert len(receiver.requests) == 1
    path, headers, body = receiver.requests[0]
    assert path == "/hooks/pixlens"
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Pixlens-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"pixlens/{__version__}"
    assert headers["X-Pixlens-Hook"] == "cats"
    payload = json.loads(body)
    record = lens.show(CAT)
    assert record is not None
    assert payload == {
        "Hook": "cats",
        "Query": "cat",
        "DeliveryId": headers["X-Pixlens-Delivery"],
        "Record": json.loads(record.model_dump_json(indent=2)),  # pixlens show's JSON
    }
    assert payload["Record"]["ImageName"] == CAT and any(
        label["Name"] == "Cat" for label in payload["Record"]["Labels"]
    )
    sent = only(lens)
    assert (sent.id, sent.status, sent.attempts, sent.last_error) == (payload["DeliveryId"], "delivered", 1, None)
    assert sent.delivered_at is not None and sent.next_attempt_at is None
    assert hooks.deliverer.run_due() == {"delivered": 0, "retrying": 0, "dead": 0}  # sent once only
    assert len(receiver.requests) == 1


def test_an_image_no_hook_matches_is_not_delivered(lens: Pixlens, receiver: Receiver) -> None:
    hooks = Webhooks(lens)
    hooks.add("giraffes", "giraffe", receiver.url)
    hooks.add("cats-only", "cat AND NOT rocket", receiver.url)
    assert hooks.on_analyzed([ROCKET]) == 0
    assert hooks.on_analyzed([]) == 0
    assert hooks.on_analyzed(["not/in/the/catalog.jpg"]) == 0
    hooks.deliverer.run_due()
    assert receiver.requests == [] and lens.catalog.deliveries() == []


def test_each_hook_that_matches_gets_its_own_delivery_unsigned_without_a_secret(
    lens: Pixlens, receiver: Receiver
) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", receiver.url)
    hooks.add("animals", "animal", receiver.url)
    hooks.add("rockets", "-cat", receiver.url)  # a NOT alone matches every image that is not a cat
    assert hooks.on_analyzed([CAT, OTHER_CAT, ROCKET]) == 5
    assert hooks.deliverer.run_due()["delivered"] == 5
    got = sorted(
        (json.loads(body)["Hook"], json.loads(body)["Record"]["ImageName"]) for _, _, body in receiver.requests
    )
    assert got == sorted(
        [("animals", CAT), ("animals", OTHER_CAT), ("cats", CAT), ("cats", OTHER_CAT), ("rockets", ROCKET)]
    )
    assert all("X-Pixlens-Signature" not in headers for _, headers, _ in receiver.requests)
    assert len({headers["X-Pixlens-Delivery"] for _, headers, _ in receiver.requests}) == 5


def test_on_results_takes_only_analysed_images(home: Path, receiver: Receiver) -> None:
    lens = make_lens(home, analyzers=["labels"])
    try:
        hooks = Webhooks(lens)
        hooks.add("cats", "cat", receiver.url)
        (Path(lens.settings.store_path) / "copy.png").write_bytes((SAMPLES / CAT).read_bytes())
        report = lens.ingest([lens.settings.store_path])  # the copied home's three are read again, unchanged
        assert sorted(result.outcome.value for result in report.results) == ["analyzed", *["unchanged"] * 3]
        assert hooks.on_results(report.results) == 1
        assert only(lens).image == "copy.png"
    finally:
        lens.close()


def test_a_failing_receiver_gets_the_same_delivery_again_until_it_accepts(lens: Pixlens) -> None:
    receiver = Receiver(statuses=(500,))
    try:
        hooks = Webhooks(lens)
        hooks.add("cats", "cat", receiver.url, secret="k")
        hooks.on_analyzed([CAT])
        now = time.time()
        assert hooks.deliverer.run_due(now) == {"delivered": 0, "retrying": 1, "dead": 0}
        waiting = only(lens)
        assert (waiting.status, waiting.attempts) == ("pending", 1)
        assert waiting.last_error is not None and waiting.last_error.startswith("HTTP 500: receiver says")
        assert "\n" not in waiting.last_error
        assert waiting.next_attempt_at is not None and iso(now + 7) <= waiting.next_attempt_at <= iso(now + 13)
        assert hooks.deliverer.run_due(now + 1) == {"delivered": 0, "retrying": 0, "dead": 0}  # not due yet
        assert hooks.deliverer.run_due(now + LATER) == {"delivered": 1, "retrying": 0, "dead": 0}
        done = only(lens)
        assert (done.status, done.attempts, done.last_error) == ("delivered", 2, None)
        (_, first, first_body), (_, second, second_body) = receiver.requests
        assert first["X-Pixlens-Delivery"] == second["X-Pixlens-Delivery"] == done.id  # idempotency key
        assert first_body == second_body and first["X-Pixlens-Signature"] == second["X-Pixlens-Signature"]
    finally:
        receiver.close()


def test_a_receiver_that_is_down_backs_off_then_is_dead_in_the_log(lens: Pixlens, home: Path) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", closed_port_url())
    hooks.on_analyzed([CAT])
    now = time.time()
    delays = []
    for attempt in (1, 2):
        assert hooks.deliverer.run_due(now)["retrying"] == 1
        row = only(lens)
        assert row.status == "pending" and row.attempts == attempt
        assert row.last_error is not None and row.last_error.startswith("cannot connect")
        assert row.next_attempt_at is not None
        due = time.mktime(time.strptime(row.next_attempt_at[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        delays.append(due - now)
        now = due + 1
    assert 5 <= delays[0] <= 14 and 13 <= delays[1] <= 27  # 10 s, then 20 s, each +-25%
    assert hooks.deliverer.run_due(now) == {"delivered": 0, "retrying": 0, "dead": 1}  # max_attempts = 3
    assert hooks.deliverer.run_due(now + LATER) == {"delivered": 0, "retrying": 0, "dead": 0}  # never again
    lens.close()
    shown = CliRunner().invoke(app, ["--home", str(home), "hooks", "log", "cats", "--json"])
    assert shown.exit_code == 0, shown.output
    (entry,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert entry["Status"] == "dead" and entry["Attempts"] == 3 and entry["ImageName"] == CAT
    assert entry["LastError"].startswith("cannot connect") and entry["NextAttemptAt"] is None
    table = CliRunner().invoke(app, ["--home", str(home), "hooks", "log"])
    assert "dead" in table.stdout and "Connection" in table.stdout


def test_pending_deliveries_survive_a_restart(home: Path, receiver: Receiver) -> None:
    first = make_lens(home, analyzers=["labels"])
    try:
        hooks = Webhooks(first)
        hooks.add("cats", "cat", receiver.url)
        assert hooks.on_analyzed([CAT, OTHER_CAT]) == 2
    finally:
        first.close()  # stopped before sending anything
    assert receiver.requests == []
    second = make_lens(home, analyzers=["labels"])
    try:
        assert Webhooks(second).deliverer.run_due() == {"delivered": 2, "retrying": 0, "dead": 0}
        assert sorted(json.loads(body)["Record"]["ImageName"] for _, _, body in receiver.requests) == [
            OTHER_CAT,
            CAT,
        ]
    finally:
        second.close()


def test_the_cli_sends_what_is_due(home: Path, receiver: Receiver) -> None:
    lens = make_lens(home, analyzers=["labels"])
    try:
        Webhooks(lens).add("cats", "cat", receiver.url)
        Webhooks(lens).on_analyzed([CAT])
    finally:
        lens.close()
    sent = CliRunner().invoke(app, ["--home", str(home), "hooks", "deliver", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout) == {"Delivered": 1, "Retrying": 0, "Dead": 0}
    assert len(receiver.requests) == 1


def test_redirects_are_not_followed(lens: Pixlens) -> None:
    target = Receiver()
    redirecting = Receiver(statuses=(302,), headers={"Location": target.url})
    try:
        hooks = Webhooks(lens)
        hooks.add("cats", "cat", redirecting.url)
        hooks.on_analyzed([CAT])
        assert hooks.deliverer.run_due()["retrying"] == 1
        assert target.requests == []
        error = only(lens).last_error
        assert error is not None and "HTTP 302: redirects are not followed" in error and target.url in error
    finally:
        target.close()
        redirecting.close()


def test_the_delivery_thread_sends_new_matches_when_notified(lens: Pixlens, receiver: Receiver) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", receiver.url)
    stop = threading.Event()
    thread = threading.Thread(target=hooks.deliverer.run, args=(stop,))
    thread.start()
    try:
        hooks.on_analyzed([OTHER_CAT])
        assert receiver.arrived.wait(60)
    finally:
        stop.set()
        hooks.deliverer.notify()
        thread.join(60)
    assert not thread.is_alive()
    assert json.loads(receiver.requests[0][2])["Record"]["ImageName"] == OTHER_CAT


def test_removing_a_hook_drops_its_deliveries(lens: Pixlens) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", closed_port_url())
    hooks.add("all", "-giraffe", closed_port_url())
    hooks.on_analyzed([CAT, ROCKET])
    assert len(lens.catalog.deliveries()) == 3
    hooks.remove("cats")
    assert {row.hook for row in lens.catalog.deliveries()} == {"all"}
    with pytest.raises(AccessError, match="no hook named 'cats'"):
        hooks.remove("cats")
    with pytest.raises(AccessError, match="no hook named 'cats'"):
        hooks.log("cats")


# --- what a hook may be ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("example.org/hook", "only http:// and https://"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://user:pw@example.org/", "no user or password"),
        ("http://example.org:99999/", "port"),
        ("http://example.org:0/", "port 0"),
        ("http://example.org/a b", "without spaces"),
        ("http://example.org/\r\nX-Evil: 1", "printable ASCII"),
        ("http://exämple.org/", "printable ASCII"),
        ("http://example.org/" + "a" * 3000, "at most 2048"),
    ],
)
def test_only_plain_http_urls_are_accepted(lens: Pixlens, url: str, reason: str) -> None:
    with pytest.raises(AccessError, match=reason):
        Webhooks(lens).add("h", "cat", url)
    assert lens.catalog.hooks() == []


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 65, "caf\u00e9", "a\r\nb", "../x"])
def test_hook_names_are_safe_in_a_url_and_a_header(lens: Pixlens, name: str) -> None:
    with pytest.raises(AccessError, match="invalid hook name"):
        Webhooks(lens).add(name, "cat", "http://127.0.0.1:1/")


def test_names_are_unique_and_secrets_not_empty(lens: Pixlens) -> None:
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", "https://example.org/a")
    with pytest.raises(AccessError, match="a hook named 'cats' exists"):
        hooks.add("cats", "dog", "https://example.org/b")
    with pytest.raises(AccessError, match="secret is empty"):
        hooks.add("dogs", "dog", "https://example.org/b", secret="")
    assert [(hook.name, hook.query) for hook in hooks.all()] == [("cats", "cat")]


def test_a_malformed_query_is_refused_as_search_refuses_it(lens: Pixlens, home: Path) -> None:
    with pytest.raises(QueryError) as caught:
        Webhooks(lens).add("bad", "dog AND (cat", "https://example.org/")
    with pytest.raises(QueryError) as searched:
        lens.search("dog AND (cat")
    assert (caught.value.message, caught.value.position) == (searched.value.message, searched.value.position)
    lens.close()
    runner = CliRunner()
    added = runner.invoke(app, ["--home", str(home), "hooks", "add", "bad", "dog AND (cat", "https://example.org/"])
    search = runner.invoke(app, ["--home", str(home), "search", "dog AND (cat"])
    assert added.exit_code == search.exit_code == 2
    assert added.stderr == search.stderr and "^" in added.stderr  # the same pointer message
    unknown = runner.invoke(app, ["--home", str(home), "hooks", "add", "d", "caat", "https://example.org/"])
    assert unknown.exit_code == 0 and "did you mean Cat" in unknown.stderr  # saved, with the search's warning
    listed = runner.invoke(app, ["--home", str(home), "hooks", "list", "--json"])
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {
            "Name": "d",
            "Query": "caat",
            "Url": "https://example.org/",
            "HasSecret": False,
            "CreatedAt": json.loads(listed.stdout)["CreatedAt"],
        }
    ]
    dash = runner.invoke(app, ["--home", str(home), "hooks", "add", "notcat", "-cat", "https://example.org/"])
    assert dash.exit_code == 0, dash.output  # a query may start with '-', as in search
    assert runner.invoke(app, ["--home", str(home), "hooks", "remove", "notcat"]).exit_code == 0
    assert runner.invoke(app, ["--home", str(home), "hooks", "remove", "notcat"]).exit_code == 1


# --- the same answers as search ----------------------------------------------------------------------------
QUERIES = [
    "cat",
    "cats",
    "animal",
    "-cat",
    "cat OR pizza",
    "animal AND NOT cat",
    "person",
    "faces",
    "faces>=2",
    "person:1",
    "text:the OR person:1",
    "text:the",
    "color:red",
    "is:unsafe",
    "is:safe",
    "dog>=80",
    "category:Animals",
    "doge",
    "vehicle OR (food AND NOT pizza)",
]


@pytest.mark.parametrize("query", QUERIES)
def test_matching_finds_what_search_finds_among_the_given_images(analysed: Pixlens, query: str) -> None:
    searcher = analysed.searcher()
    found = {hit.key for hit in analysed.search(query, limit=1000).hits}
    keys = sorted(state.key for state in analysed.catalog.states())
    node = searcher.parse(query)
    assert set(analysed.catalog.matching(node, searcher.resolve, keys)) == found
    some = keys[::3]
    assert set(analysed.catalog.matching(node, searcher.resolve, some)) == found & set(some)


def test_unsafe_images_are_hidden_unless_the_query_asks(lens: Pixlens, receiver: Receiver) -> None:
    record = lens.show(CAT)
    assert record is not None
    unsafe = record.model_copy(
        update={
            "ImageName": "unsafe-cat.png",
            "ModerationLabels": [{"Name": "Explicit Nudity", "Confidence": 90.0, "ParentName": "", "TaxonomyLevel": 1}],
        }
    )
    lens.catalog.put([unsafe])
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", receiver.url)
    hooks.add("unsafe-cats", "cat AND is:unsafe", receiver.url)
    assert hooks.on_analyzed(["unsafe-cat.png", CAT]) == 2
    assert sorted((row.hook, row.image) for row in lens.catalog.deliveries()) == [
        ("cats", CAT),
        ("unsafe-cats", "unsafe-cat.png"),
    ]
    assert {hit.key for hit in lens.search("cat").hits} == {CAT, OTHER_CAT}  # search agrees


def test_the_documented_receiver_check_accepts_a_real_delivery_and_nothing_else(
    lens: Pixlens, receiver: Receiver
) -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "API.md").read_text()
    code = docs.split("## Keys and webhooks", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    hooks = Webhooks(lens)
    hooks.add("cats", "cat", receiver.url, secret="doc-secret")
    hooks.on_analyzed([CAT])
    hooks.deliverer.run_due()
    _, headers, body = receiver.requests[0]
    verified = namespace["verified"]
    assert verified(b"doc-secret", body, headers["X-Pixlens-Signature"])
    assert not verified(b"other-secret", body, headers["X-Pixlens-Signature"])
    assert not verified(b"doc-secret", body + b" ", headers["X-Pixlens-Signature"])
    assert not verified(b"doc-secret", body, "")


def test_a_receiver_that_never_answers_times_out(home: Path) -> None:
    lens = make_lens(home, analyzers=["labels"], hooks={"timeout_seconds": 0.5})
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        try:
            hooks = Webhooks(lens)
            hooks.add("cats", "cat", f"http://127.0.0.1:{silent.getsockname()[1]}/")
            hooks.on_analyzed([CAT])
            assert hooks.deliverer.run_due()["retrying"] == 1
            assert only(lens).last_error == "no answer within 0.5 s"
        finally:
            lens.close()


def test_a_claimed_delivery_is_not_sent_by_another_sender(home: Path, receiver: Receiver) -> None:
    first, second = make_lens(home, analyzers=["labels"]), make_lens(home, analyzers=["labels"])
    try:
        Webhooks(first).add("cats", "cat", receiver.url)
        Webhooks(first).on_analyzed([CAT])
        now = time.time()
        (claimed,) = first.catalog.claim_deliveries(iso(now), iso(now + 50), 10)  # another process is sending it
        assert Webhooks(second).deliverer.run_due(now + 10) == {"delivered": 0, "retrying": 0, "dead": 0}
        assert Webhooks(second).deliverer.run_due(now + 60)["delivered"] == 1  # its sender died: sent after the lease
        assert [headers["X-Pixlens-Delivery"] for _, headers, _ in receiver.requests] == [claimed.id]
    finally:
        first.close()
        second.close()


def test_images_analysed_without_a_server_are_matched_later_and_once(tmp_path: Path, receiver: Receiver) -> None:
    """The catalog notes each new analysis in the record's own transaction while saved searches exist: a process
    that ends (or is killed) before matching loses no delivery, and a record written again unchanged is no match."""
    store = tmp_path / "photos"
    store.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, store / name)
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    Webhooks(lens).add("cats", "cat", receiver.url)
    lens.ingest([store])  # analysed; nothing matched them yet (as if the process were killed now)
    lens.close()
    again = make_lens(tmp_path / "home", analyzers=["labels"])
    try:
        assert sorted(again.catalog.unmatched()) == sorted(f"photos/{name}" for name in PHOTOS)
        hooks = Webhooks(again)
        assert hooks.match_waiting() == 2  # the two cats
        assert again.catalog.unmatched() == [] and hooks.match_waiting() == 0
        (store / ROCKET).touch()  # a new etag, the same content: written again, not analysed again
        again.ingest([store])
        assert again.catalog.unmatched() == []
        assert sorted(row.image for row in again.catalog.deliveries()) == sorted(
            f"photos/{n}" for n in (CAT, OTHER_CAT)
        )
    finally:
        again.close()


def test_without_saved_searches_nothing_waits_to_be_matched(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    try:
        lens.ingest([SAMPLES / CAT])
        assert lens.catalog.unmatched() == []
    finally:
        lens.close()
