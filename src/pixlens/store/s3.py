"""An S3-compatible bucket as the object store (``s3://bucket/prefix``), through boto3.

A key is the object's name relative to the prefix (``s3://b/photos`` holds key ``holiday/a.jpg`` as the object
``photos/holiday/a.jpg``). Keys follow the local store's rules (relative, no ``.`` or ``..`` parts, no empty
parts), so that an image keeps its key whichever store holds it. Credentials come from boto3's usual chain
(AWS_* variables, a profile, an instance role), never from pixlens's settings or files.

Writes that must not replace an object (``overwrite=False``) send ``If-None-Match: *`` on the PutObject (or on the
CompleteMultipartUpload of a large file): the server refuses the write if the key exists, atomically. AWS S3,
MinIO and SeaweedFS honour it; a server that ignores the header would replace the object. The callers look first
(:func:`pixlens.store.collect.place` stats every key before writing), so on such a server the race that remains is
two writers taking the same new key between that look and the write: the later one wins.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from pixlens.errors import DecodeError, ObjectExistsError, StoreError, StoreMissingError
from pixlens.store.base import BucketObject, ObjectInfo, is_image_key
from pixlens.store.names import printable
from pixlens.store.urls import S3_SCHEME, parse_bucket_url

if TYPE_CHECKING:
    from pixlens.config import S3Settings, Settings

T = TypeVar("T")
READ_CHUNK = 1 << 20
DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}
)
MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
CONDITION_FAILED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class S3Store:
    """Images in a bucket, under a prefix."""

    def __init__(self, bucket: str, prefix: str, options: S3Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"{self.prefix}/" if self.prefix else ""  # what every object key starts with
        self.page_size = options.list_page_size
        self.client = _client(options)
        # A second client that sends If-None-Match: * on every write: upload_fileobj takes no such argument, and
        # its parts travel on worker threads, so the condition is the client's own, not a flag set per call.
        self._creating_client = _client(options)
        for operation in ("PutObject", "CompleteMultipartUpload"):
            self._creating_client.meta.events.register(f"before-parameter-build.s3.{operation}", _if_none_match)
        self.transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold, multipart_chunksize=options.multipart_chunksize
        )

    def describe(self) -> str:
        url = f"{S3_SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{S3_SCHEME}{self.bucket}"
        return f"{url} ({self.client.meta.endpoint_url})"

    # -- keys ----
    def object_key(self, key: str) -> str:
        parts = key.split("/")
        if not key or "\0" in key or any(part in ("..", ".", "") for part in parts):
            raise StoreError(f"invalid key {printable(key)!r}: keys are relative paths without '..'")
        return self.root + key

    def bucket_object(self, key: str) -> BucketObject:
        return BucketObject(self.bucket, self.object_key(key))

    def key_for(self, path: Path) -> str | None:
        return None  # no local file is inside a bucket: ingest copies every file in

    # -- listing ----
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The images (by name: reading each object to sniff it would cost a GET) under ``prefix`` (a key, or a
        folder of keys), sorted by key. Hidden names (a part starting with '.') and folder markers are left out.

        The whole listing is gathered before the first is given: servers differ in order (SeaweedFS lists a folder
        before a longer name it prefixes), and the port promises key order."""
        start = self.object_key(prefix.rstrip("/")) if prefix else self.root
        found: list[ObjectInfo] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start, PaginationConfig={"PageSize": self.page_size}
        )

        def gather() -> None:
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.root) :]
                    if _listed(key, prefix.rstrip("/")):
                        found.append(ObjectInfo(key, int(item["Size"]), _etag(item["ETag"])))

        self._call("list", prefix or "the images", gather)
        found.sort(key=lambda info: info.key)
        yield from found

    def stat(self, key: str) -> ObjectInfo | None:
        name = self.object_key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) not in MISSING_KEY:
                self._fail(exc, "look at", key)
            self._check_bucket()  # a HEAD's 404 has no body: a missing bucket must not read as a missing image
            return None
        except (BotoCoreError, ValueError) as exc:
            self._fail(exc, "look at", key)
        return ObjectInfo(key, int(head["ContentLength"]), _etag(head["ETag"]))

    # -- bytes ----
    def read(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes. Its size is checked on the response's headers before the body is read: a huge
        object is refused (DecodeError) by closing the connection, not by downloading it."""
        name = self.object_key(key)
        response = self._call("read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=name))
        body = response["Body"]
        try:
            size = int(response.get("ContentLength", 0))
            if size > max_bytes:
                raise DecodeError(f"file too large: {size / 1e6:,.1f} MB, limit {max_bytes / 1e6:,.1f} MB")
            chunks: list[bytes] = []
            total = 0
            while chunk := self._call("read", key, lambda: body.read(READ_CHUNK)):
                total += len(chunk)
                if total > max_bytes:  # a server that said less than it sends
                    raise DecodeError(f"file too large: over {max_bytes / 1e6:,.1f} MB")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            body.close()

    def stream(self, key: str) -> BinaryIO | None:
        """The object's bytes as a stream read from the server as it is consumed (the caller closes it); None
        when there is no such object."""
        name = self.object_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in MISSING_KEY:
                return None
            self._fail(exc, "read", key)
        except (BotoCoreError, ValueError) as exc:
            self._fail(exc, "read", key)
        body: BinaryIO = response["Body"]
        return body

    def put_file(self, key: str, source: Path, overwrite: bool = True) -> ObjectInfo:
        """Upload a local regular file (in parts from ``s3.multipart_threshold``); anything else (a pipe, a
        device, a folder) is refused unread."""
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise StoreError(f"cannot copy {printable(str(source))} into the store: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoreError(f"cannot copy {printable(str(source))} into the store: not a regular file")
        with open(fd, "rb") as reader:
            return self._upload(key, reader, overwrite)

    def put_stream(self, key: str, stream: BinaryIO, overwrite: bool = True) -> ObjectInfo:
        return self._upload(key, stream, overwrite)

    def _upload(self, key: str, stream: BinaryIO, overwrite: bool) -> ObjectInfo:
        """Readers never see half an object: S3 makes an object visible only once its upload completed."""
        name = self.object_key(key)
        client = self.client if overwrite else self._creating_client
        extra = {"ContentType": mimetypes.guess_type(PurePosixPath(key).name)[0] or "application/octet-stream"}
        try:
            client.upload_fileobj(stream, self.bucket, name, ExtraArgs=extra, Config=self.transfer)
        except ClientError as exc:
            if not overwrite and _code(exc) in CONDITION_FAILED:
                raise ObjectExistsError(f"{self.describe()}: {printable(key)} exists") from exc
            self._fail(exc, "write", key)
        except (BotoCoreError, ValueError) as exc:
            self._fail(exc, "write", key)
        except OSError as exc:  # the source failed while being read
            raise StoreError(f"cannot copy {printable(key)} into the store: {exc.strerror or exc}") from exc
        info = self.stat(key)
        if info is None:  # deleted by someone else at once
            raise StoreError(f"{printable(key)} vanished right after it was written to {self.describe()}")
        return info

    def delete(self, key: str) -> None:
        name = self.object_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) not in MISSING_KEY:
                self._fail(exc, "delete", key)
        except (BotoCoreError, ValueError) as exc:
            self._fail(exc, "delete", key)

    # -- errors: a clear StoreError, never a botocore traceback ----
    def _call(self, action: str, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ClientError as exc:
            if action == "read" and _code(exc) in MISSING_KEY:
                raise StoreError(f"file vanished before it could be read: {printable(what)}") from exc
            self._fail(exc, action, what)
        except (BotoCoreError, ValueError) as exc:
            self._fail(exc, action, what)

    def _check_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "look at", "the bucket")

    def _fail(self, exc: Exception, action: str, what: str) -> NoReturn:
        endpoint = self.client.meta.endpoint_url
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code == "NoSuchBucket" or (code in MISSING_KEY and what == "the bucket"):
                raise StoreMissingError(f"the bucket {self.bucket!r} does not exist at {endpoint}") from exc
            if code in DENIED:
                raise StoreError(
                    f"access denied ({code}) to {self.describe()}: check the credentials (AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and what they may do on the bucket"
                ) from exc
            message = exc.response.get("Error", {}).get("Message") or code
            raise StoreError(f"cannot {action} {printable(what)} in {self.describe()}: {code}: {message}") from exc
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            raise StoreError(
                f"no S3 credentials for {self.describe()}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE, or run where an instance role gives them"
            ) from exc
        if isinstance(exc, EndpointConnectionError | ConnectionError):
            raise StoreMissingError(
                f"cannot reach the S3 endpoint {endpoint} (is the server running, is s3.endpoint_url right?): {exc}"
            ) from exc
        raise StoreError(f"cannot {action} {printable(what)} in {self.describe()}: {exc}") from exc


def open_s3(url: str, settings: Settings) -> S3Store:
    """The store of an ``s3://bucket/prefix`` URL (the registry's factory). Nothing is asked of the server yet:
    a command that never touches an image (a search) works while the server is away."""
    where = parse_bucket_url(url)
    return S3Store(where.bucket, where.prefix, settings.s3)


def _client(options: S3Settings) -> Any:
    session = boto3.session.Session()
    endpoint = options.endpoint_url or None
    given_endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = options.region or session.region_name or ("us-east-1" if given_endpoint else None)
    path_style = options.path_style if options.path_style is not None else bool(given_endpoint)
    config = Config(
        region_name=region,
        retries={"total_max_attempts": options.max_attempts, "mode": options.retry_mode},
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        s3={"addressing_style": "path" if path_style else "auto"},
        request_checksum_calculation=options.checksums,
        response_checksum_validation=options.checksums,
        max_pool_connections=32,
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def _if_none_match(params: dict[str, Any], **_: Any) -> None:
    params["IfNoneMatch"] = "*"


def _listed(key: str, prefix: str) -> bool:
    """Whether a listed object is an image of the store under ``prefix`` (the key itself, or a folder of keys)."""
    if prefix and key != prefix and not key.startswith(f"{prefix}/"):
        return False  # "holiday2/a.jpg" is not under the folder "holiday"
    return is_image_key(key)  # not a folder marker ("a/"), a hidden name, or a key no store could name


def _etag(raw: str) -> str:
    return raw.strip('"')


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
