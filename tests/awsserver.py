"""A local AWS endpoint for tests of what only AWS runs (DynamoDB, SQS, Rekognition's neighbours): moto's server
mode on 127.0.0.1, a free port, in this process's threads. S3 itself is tested against SeaweedFS (s3server.py)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any credentials; these never reach AWS


@dataclass
class AwsServer:
    endpoint: str
    server: object  # moto.server.ThreadedMotoServer

    def reset(self) -> None:
        """Forget every table, queue and bucket (moto's own reset call), so that each test starts empty."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 (and so pixlens) at this endpoint, with throwaway credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def start_aws_server() -> AwsServer:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return AwsServer(endpoint=f"http://{host}:{port}", server=server)
