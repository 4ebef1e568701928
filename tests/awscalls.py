"""The AWS calls pixlens makes, as botocore makes them, and the IAM permissions each needs.

:class:`CallRecorder` subscribes to botocore's ``before-parameter-build.*.*`` event on every client made while it
is installed (boto3's clients are botocore's), so it sees each operation with the parameters the code passed,
whichever client, thread or paginator made it, and before a Stubber answers it. :func:`permissions` maps one call to
the (IAM action, resource ARN) pairs AWS checks for it: the table below, from the services' authorization
references. An operation not in the table fails the test that meets it, so a new call cannot slip past the check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest

# s3: the action each operation needs (the Amazon S3 API reference's "Permissions" of each operation).
S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",  # a HEAD is authorised as a GET
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
S3_BUCKET_ACTIONS = {
    "HeadBucket": "s3:ListBucket",  # HeadBucket has no action of its own
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
}
# dynamodb: an operation on one table needs the action of its name, on the table (or the index it names). The
# batch operations are actions of their own, per table; a transaction's parts are authorised as the single-item
# operations (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
DYNAMODB_SINGLE = frozenset(
    {"DescribeTable", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "CreateTable"}
)
DYNAMODB_BATCH = frozenset({"BatchGetItem", "BatchWriteItem"})
TRANSACTION_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# rekognition: the image operations take no resource (IAM accepts only "*"); an image named as an S3Object is read
# by Rekognition with the caller's permissions (Rekognition developer guide), so it needs s3:GetObject on it too.
REKOGNITION_OPERATIONS = frozenset({"DetectLabels", "DetectText", "DetectFaces", "DetectModerationLabels"})


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: s3, dynamodb, rekognition
    operation: str  # the API's name: HeadObject, Query, DetectLabels
    params: dict[str, Any]


class CallRecorder:
    """Every AWS call made while :attr:`on` is true, by the clients made while :meth:`installed`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.on = False
        self._lock = threading.Lock()

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
        original = botocore.session.Session.create_client

        def create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            self.attach(client)
            return client

        monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
        yield self

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*.*", self._seen)

    def ignore(self, client: Any) -> Any:
        """``client`` (the test's own, not the function's) is not recorded."""
        client.meta.events.unregister("before-parameter-build.*.*", self._seen)
        return client

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.on:
            with self._lock:
                self.calls.append(Call(model.service_model.service_name, model.name, dict(params)))

    @contextmanager
    def recording(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False


def permissions(call: Call, region: str, account: str) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorises ``call`` by."""
    if call.service == "s3":
        bucket = call.params["Bucket"]
        if call.operation in S3_OBJECT_ACTIONS:
            return [(S3_OBJECT_ACTIONS[call.operation], f"arn:aws:s3:::{bucket}/{call.params['Key']}")]
        if call.operation in S3_BUCKET_ACTIONS:
            return [(S3_BUCKET_ACTIONS[call.operation], f"arn:aws:s3:::{bucket}")]
    if call.service == "dynamodb":

        def table(name: str, index: str | None = None) -> str:
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return f"{arn}/index/{index}" if index else arn

        if call.operation in DYNAMODB_SINGLE:
            return [(f"dynamodb:{call.operation}", table(call.params["TableName"], call.params.get("IndexName")))]
        if call.operation in DYNAMODB_BATCH:
            return [(f"dynamodb:{call.operation}", table(name)) for name in call.params["RequestItems"]]
        if call.operation in ("TransactWriteItems", "TransactGetItems"):
            return [
                (f"dynamodb:{TRANSACTION_PARTS[kind]}", table(body["TableName"]))
                for item in call.params["TransactItems"]
                for kind, body in item.items()
            ]
    if call.service == "rekognition" and call.operation in REKOGNITION_OPERATIONS:
        needed = [(f"rekognition:{call.operation}", "*")]
        s3_object = call.params.get("Image", {}).get("S3Object")
        if s3_object:
            needed.append(("s3:GetObject", f"arn:aws:s3:::{s3_object['Bucket']}/{s3_object['Name']}"))
        return needed
    raise KeyError(
        f"{call.service}:{call.operation} is not in tests/awscalls.py's table: add the IAM action it needs (and to "
        "the template's role)"
    )
