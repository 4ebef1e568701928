"""A hostile client against `pixlens serve`: each test is an attack that broke something, with the behaviour that
should hold instead (docs/API.md, the rules in common.md: bad input never a 500 nor a traceback, nothing lost)."""

from __future__ import annotations

import io
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image
from tests.conftest import SAMPLES, make_lens
from tests.serving import Served, serve

pytestmark = pytest.mark.slow

FAST = ["labels", "embedding", "thumbnail"]
PIXLENS = str(Path(sys.executable).parent / "pixlens")
CAN_CHATTR = os.geteuid() == 0 and shutil.which("chattr") is not None


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Served]:
    with serve(make_lens(tmp_path / "home", analyzers=FAST)) as served:
        yield served


def upload(served: Served, name: str, data: bytes, **headers: str) -> httpx.Response:
    return served.client.post("/v1/images", files=[("file", (name, data, "image/png"))], headers=headers)


# -- a real `pixlens serve` process (for what lives in the server, not in the app) ----
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_process(home: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen([PIXLENS, "--home", str(home), "serve", "--port", str(port)], stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"pixlens serve did not get ready:\n{log.read_text()}")
                time.sleep(0.2)
            yield process, url
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """The files cannot be written, even by root (chattr +i): a catalog on a failing or full disk."""
    existing = [str(path) for path in paths if path.exists()]
    subprocess.run(["chattr", "+i", *existing], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *existing], check=True)


def catalog_files(served: Served) -> list[Path]:
    catalog = Path(served.runtime.lens.settings.catalog_url.removeprefix("sqlite:///"))
    return [catalog, catalog.with_name(catalog.name + "-wal"), catalog.with_name(catalog.name + "-shm")]


# -- DNS rebinding: an open (keyless, loopback) server answers requests for any host name ----
def test_an_open_server_refuses_requests_for_another_host_name(fresh: Served) -> None:
    """Open on loopback, the API trusts whoever can reach 127.0.0.1. A web page the user visits can reach it too
    through DNS rebinding (evil.example resolves to 127.0.0.1 after the page has loaded): the browser then sends
    `Host: evil.example:PORT`, and the page may read every photo and DELETE them (same origin, no preflight).
    Right: without keys, only Host names of this machine's loopback (127.0.0.1, localhost, [::1], with the port)
    are answered; anything else gets 400/403/421 with a JSON error, and nothing is deleted."""
    assert upload(fresh, "mine.png", png((10, 20, 30))).status_code == 202
    foreign = {"Host": "evil.example:8377"}
    read = fresh.client.get("/v1/stats", headers=foreign)
    assert read.status_code in (400, 403, 421), read.text
    assert read.json()["code"]
    deleted = fresh.client.delete("/v1/images/mine.png", headers=foreign)
    assert deleted.status_code in (400, 403, 421)
    assert (fresh.runtime.lens.settings.store_path / "mine.png").is_file()
    assert fresh.client.get("/v1/stats", headers={"Host": "localhost:8377"}).status_code == 200  # still usable


# -- CSRF: any web page can post a form to an open server ----
def test_an_open_server_refuses_cross_site_writes(fresh: Served) -> None:
    """A multipart POST is a 'simple' request: any web page can send it to http://127.0.0.1:8377/v1/images with a
    <form> or fetch(no-cors), with no preflight, and the open server stores whatever it sends (and a bodiless POST
    .../reanalyze works too). Right: without keys, a write whose Origin (or Sec-Fetch-Site: cross-site) is not the
    server's own page is refused (403, code forbidden), and nothing reaches the store."""
    cross = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    planted = upload(fresh, "planted.png", png((200, 0, 0)), **cross)
    assert planted.status_code == 403, planted.text
    assert planted.json()["code"] == "forbidden"
    assert not (fresh.runtime.lens.settings.store_path / "planted.png").exists()
    same = upload(fresh, "own.png", png((0, 200, 0)), Origin=fresh.url)  # the web page's own uploads still work
    assert same.status_code == 202


# -- connections that never finish a request are kept for ever ----
def test_a_connection_that_never_completes_its_request_is_closed(tmp_path: Path) -> None:
    """uvicorn starts its keep-alive timer only after a response: a client that connects and sends nothing (or
    half a request line) is kept open for ever, without any key. ~20,000 such sockets (the process's file limit)
    and `pixlens serve` stops answering everyone, while asyncio logs a traceback per failed accept (140 MB of log
    in a minute, measured). Right: a connection that has not sent a whole request head within a short timeout
    (seconds, not minutes) is closed. (Waits up to 50 s for the server to close them.)"""
    with serve_process(tmp_path / "home", tmp_path / "serve.log") as (_, url):
        port = int(url.rsplit(":", 1)[1])
        idle = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        try:
            assert closed_within(idle, 45), "the server kept a connection that sent nothing for 45 s"
            assert closed_within(partial, 5), "the server kept a connection with half a request head for 50 s"
        finally:
            idle.close()
            partial.close()


def test_running_out_of_file_descriptors_neither_floods_the_log_nor_stops_the_server(tmp_path: Path) -> None:
    """The same attack, made cheap: the server's file limit lowered (prlimit) to what it uses plus a few dozen,
    then many idle connections. Right: the server refuses or drops the extra connections without writing a
    traceback for each refused accept (the log stays small), and answers again once they are gone."""
    log = tmp_path / "serve.log"
    with serve_process(tmp_path / "home", log) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        used = len(os.listdir(f"/proc/{process.pid}/fd"))
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (used + 40, used + 40))
        before = log.stat().st_size
        sockets = []
        try:
            for _ in range(120):
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(5)
            grown = log.stat().st_size - before
            assert grown < 100_000, f"the log grew by {grown:,} bytes in 5 s of refused connections"
        finally:
            for conn in sockets:
                conn.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer again once the connections were closed")


def closed_within(conn: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``conn`` (after an answer or none) within ``seconds``."""
    conn.settimeout(seconds)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


# -- a transient catalog failure stops the analysis for good, silently ----
@pytest.mark.skipif(not CAN_CHATTR, reason="needs root and chattr to make the catalog unwritable")
def test_the_workers_survive_a_transient_catalog_failure(tmp_path: Path) -> None:
    """A file deleted from the store while the catalog cannot be written (a full or failing disk for a moment):
    the watcher's forget raises CatalogError in the 'pixlens-watch' feeder thread, which dies; _drain then ends,
    the workers return without an error, and from then on /readyz says 'loading the models' for ever,
    /v1/stats says WorkersError null, and uploads are answered 202 'pending' but never analysed (until a
    restart). Right: the failure is reported (readyz/stats say why) and the workers go on (retry) once the
    catalog can be written again; an upload made after that is analysed."""
    lens = make_lens(tmp_path / "home", analyzers=FAST, watch_settle_seconds=0.2)
    with serve(lens, watch=True) as served:
        for n in range(2):
            assert upload(served, f"w{n}.png", png((n * 90, 40, 40))).status_code == 202
            served.wait_for(f"w{n}.png")
        with immutable(*catalog_files(served)):
            (lens.settings.store_path / "w0.png").unlink()
            deadline = time.monotonic() + 20
            while served.runtime.ready and time.monotonic() < deadline:
                time.sleep(0.1)
            readyz = served.client.get("/readyz").json()
            if not served.runtime.ready:  # while it cannot work, it says why, not that it is starting
                assert "loading the models" not in str(readyz.get("Detail"))
                assert served.client.get("/v1/stats").json()["WorkersError"]
        assert upload(served, "after.png", png((1, 200, 90))).status_code == 202
        served.wait_for("after.png", timeout=120)


# -- the store folder gone: uploads recreate it ----
def test_an_upload_while_the_store_folder_is_gone_is_refused_and_does_not_recreate_it(tmp_path: Path) -> None:
    """The store folder moved, deleted or unmounted while serving: the watcher stops (readyz says so), but an
    upload is still answered 202 'pending': `put_stream` makes the store folder again (mkdir parents) and writes
    into it, e.g. onto the mount point of an unmounted disk, where the real store will hide it when it is mounted
    back; and no worker will ever analyse it. Right: 503 (a JSON error saying the store is missing), nothing
    written, the folder not recreated."""
    lens = make_lens(tmp_path / "home", analyzers=FAST)
    with serve(lens) as served:
        store = lens.settings.store_path
        assert upload(served, "before.png", png((5, 6, 7))).status_code == 202
        served.wait_for("before.png")
        store.rename(store.with_name("images.unmounted"))
        answer = upload(served, "late.png", png((50, 60, 70)))
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"]
        assert not store.exists()


# -- held: a DELETE that fails on the catalog can be retried ----
@pytest.mark.skipif(not CAN_CHATTR, reason="needs root and chattr to make the catalog unwritable")
def test_a_delete_that_failed_on_the_catalog_is_completed_by_a_retry(fresh: Served) -> None:
    """Held (passes today): DELETE unlinks the file, then the catalog write fails (503); a retry forgets the record
    (204) and the image leaves search. (The 503 says 'nothing of this change was written' although the file is
    gone: a wording to fix, not tested here.)"""
    assert upload(fresh, "doomed.png", png((90, 10, 10))).status_code == 202
    fresh.wait_for("doomed.png")
    with immutable(*catalog_files(fresh)):
        failed = fresh.client.delete("/v1/images/doomed.png")
        assert failed.status_code == 503 and failed.json()["code"]
    assert fresh.client.delete("/v1/images/doomed.png").status_code == 204
    assert fresh.client.get("/v1/images/doomed.png").status_code == 404
    names = [hit["ImageName"] for hit in fresh.client.get("/v1/search", params={"limit": 100}).json()["Images"]]
    assert "doomed.png" not in names


# -- a client that goes away mid-upload leaves two tracebacks at ERROR ----
def test_a_client_that_disconnects_mid_upload_leaves_no_traceback(tmp_path: Path) -> None:
    """Starlette raises ClientDisconnect from request.form(); the catch-all handler logs it as 'unexpected error'
    with a traceback, then uvicorn logs 'Exception in ASGI application' with another. Any client can fill the log
    that way (and it is not an error of the server). Right: a disconnect is noted at most in one line (INFO or
    WARNING), no traceback; nothing of the partial upload is left in the store."""
    log = tmp_path / "serve.log"
    with serve_process(tmp_path / "home", log) as (_, url):
        port = int(url.rsplit(":", 1)[1])
        data = (SAMPLES / "astronaut.png").read_bytes()
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="cut.png"\r\nContent-Type: image/png'
            b"\r\n\r\n" + data + b"\r\n--XyZ--\r\n"
        )
        head = (
            b"POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(head + body[: len(body) // 2])
            time.sleep(1)
        time.sleep(2)
        assert httpx.get(f"{url}/healthz").status_code == 200
        store = tmp_path / "home" / "images"
        assert not store.exists() or not [path.name for path in store.iterdir()]
    text = log.read_text()
    assert "Traceback" not in text and "unexpected error" not in text, text[-3000:]


# -- DELETE of what is not an image ----
def test_delete_of_a_folder_is_not_found_not_a_500(fresh: Served) -> None:
    """DELETE /v1/images/trip where trip/ is a folder of the store: Path.unlink raises IsADirectoryError, answered
    500 'unexpected error: IsADirectoryError'. Right: 404 not_found (no image has that key), the folder intact."""
    assert (
        fresh.client.post(
            "/v1/images", files=[("file", ("a.png", png((1, 2, 3))))], data={"key": "trip/a.png"}
        ).status_code
        == 202
    )
    for key in ("trip", "trip/"):
        answer = fresh.client.delete(f"/v1/images/{key}")
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "not_found"
    assert (fresh.runtime.lens.settings.store_path / "trip" / "a.png").is_file()


def test_delete_removes_only_images_not_other_files_of_the_store(fresh: Served) -> None:
    """DELETE unlinks whatever file the key names in the store, also files pixlens never catalogues: hidden files
    and files that are not images (a store may be the user's own folder: `--store ~/Pictures`). Right: 404 for a
    key that names no image (none in the catalog, not an image the store lists), the file left alone."""
    store = fresh.runtime.lens.settings.store_path
    store.mkdir(parents=True, exist_ok=True)
    (store / "notes.txt").write_text("my notes")
    (store / ".config").write_text("settings")
    for key in ("notes.txt", ".config"):
        answer = fresh.client.delete(f"/v1/images/{key}")
        assert answer.status_code == 404, f"{key}: {answer.status_code}"
    assert (store / "notes.txt").read_text() == "my notes"
    assert (store / ".config").read_text() == "settings"


# -- uploaded files are private to the server's user ----
def test_uploaded_files_get_the_same_permissions_as_copied_ones(fresh: Served, tmp_path: Path) -> None:
    """An upload is written with tempfile.mkstemp (mode 0600) and renamed: uploaded images are readable by the
    server's user only, unlike those `pixlens ingest` copies (0644 with the usual umask): a backup job or a web
    server reading the store as another user silently misses the uploads. Right: the umask's mode (0666 & ~umask),
    as for any file the user creates."""
    assert upload(fresh, "perm.png", png((3, 3, 3))).status_code == 202
    umask = os.umask(0)
    os.umask(umask)
    mode = (fresh.runtime.lens.settings.store_path / "perm.png").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask, oct(mode)


# -- person names in NFD are never found ----
def test_a_person_named_in_decomposed_unicode_is_found_by_the_composed_name(tmp_path: Path) -> None:
    """macOS and some keyboards send 'é' as 'e' + U+0301 (NFD). A person named 'Ame\u0301lie' over PATCH is kept so;
    the search person:"Amélie" (NFC, as typed elsewhere) finds nothing, and neither does the reverse. Upload keys
    are normalised to NFC already. Right: names (and query words) compared in one normal form (NFC)."""
    lens = make_lens(tmp_path / "home", analyzers=["faces"])
    with serve(lens) as served:
        answer = served.client.post(
            "/v1/images", files=[("file", ("astronaut.png", (SAMPLES / "astronaut.png").read_bytes()))]
        )
        assert answer.status_code == 202
        served.wait_for("astronaut.png")
        people = served.client.get("/v1/people").json()["People"]
        assert people
        decomposed = unicodedata.normalize("NFD", "Amélie")
        named = served.client.patch(f"/v1/people/{people[0]['PersonId']}", json={"Name": decomposed})
        assert named.status_code == 200
        composed = unicodedata.normalize("NFC", "Amélie")
        found = served.client.get("/v1/search", params={"q": f'person:"{composed}"'}).json()
        assert found["Total"] == people[0]["Images"]


# -- bidi controls in keys made from file names ----
def test_file_names_lose_bidi_and_invisible_characters(fresh: Served) -> None:
    """key_from_filename strips C0/C1 control characters but keeps format characters: a file named
    '\u202egnp.exe' becomes a key shown as 'exe.png' (RIGHT-TO-LEFT OVERRIDE) in the page, the CLI and logs, and
    'a\u200bb.png' looks like 'ab.png'. PATCH /v1/people refuses such names already (str.isprintable). Right: a
    name suggested by a client loses the bidi controls and zero-width characters (Unicode category Cf)."""
    for name in ("\u202egnp.exe", "zero\u200bwidth.png", "a\u2066b\u2069.png"):
        answer = upload(fresh, name, png((7, 8, len(name))))
        assert answer.status_code == 202
        key = answer.json()["Images"][0]["ImageName"]
        assert not [char for char in key if unicodedata.category(char) == "Cf"], repr(key)
