"""The calls pixlens makes to Amazon Rekognition, with their retries and what their errors mean for an image.

Every AWS action this backend performs is in :data:`REKOGNITION_ACTIONS` (the deployment's IAM policy grants
exactly those); :class:`Rekognition` refuses any other operation.

- Throttling (``ThrottlingException``, ``ProvisionedThroughputExceededException``, ``LimitExceededException``),
  Rekognition's own 5xx errors and lost connections are retried: exponential backoff with full jitter, at most
  ``rekognition.max_attempts`` attempts and ``rekognition.backoff_max_seconds`` between two. botocore's own
  retries are off, so that this is the one bound.
- Any other error (``InvalidImageFormatException``, ``ImageTooLargeException``, ``InvalidS3ObjectException``,
  ``AccessDeniedException``...), and throttling that outlasts the bound, is a :class:`RekognitionError`: the
  image's record fails with its reason, the batch goes on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError, NoRegionError

from pixlens.config import RekognitionSettings
from pixlens.errors import ConfigError, PixlensError

# The operations (boto3 method name -> IAM action): everything this backend asks of AWS.
OPERATIONS: Final = {
    "detect_labels": "rekognition:DetectLabels",
    "detect_text": "rekognition:DetectText",
    "detect_faces": "rekognition:DetectFaces",
    "detect_moderation_labels": "rekognition:DetectModerationLabels",
}
REKOGNITION_ACTIONS: Final = tuple(OPERATIONS.values())

THROTTLED: Final = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"}
)
TRANSIENT: Final = THROTTLED | frozenset({"InternalServerError", "ServiceUnavailableException"})

# What a refusal means, for a person reading the failed record.
EXPLAINED: Final = {
    "InvalidImageFormatException": "Rekognition cannot read the image format (it takes JPEG and PNG)",
    "ImageTooLargeException": "the image is larger than Rekognition takes (5 MB as bytes, 15 MB from S3, "
    "10,000 pixels a side)",
    "InvalidS3ObjectException": "Rekognition could not read the object from S3 (the bucket must be in "
    "Rekognition's region, and the caller needs s3:GetObject on it)",
    "AccessDeniedException": "this AWS identity may not call Rekognition (its IAM policy lacks the action)",
    "InvalidParameterException": "Rekognition refused the request's parameters",
}


class RekognitionError(PixlensError):
    """Rekognition did not analyse an image (the message says why): that record fails, the batch goes on."""


def make_client(options: RekognitionSettings) -> Any:
    """A boto3 Rekognition client; region and endpoint from the settings or the usual chain (AWS_ENDPOINT_URL)."""
    config = Config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},  # retried here, with our bound
    )
    try:
        return boto3.client(
            "rekognition", region_name=options.region or None, endpoint_url=options.endpoint_url or None, config=config
        )
    except NoRegionError as exc:
        raise ConfigError(
            "Amazon Rekognition needs a region: set rekognition.region (PIXLENS_REKOGNITION__REGION) or AWS_REGION"
        ) from exc


class Rekognition:
    """The Rekognition client shared by the analysers (boto3 clients are thread-safe), with the retry policy."""

    _shared: ClassVar[dict[str, Rekognition]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        client: Any,
        options: RekognitionSettings,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.sleep = sleep
        self.rng = rng or random.Random()

    @classmethod
    def shared(cls, options: RekognitionSettings) -> Rekognition:
        """One per set of options in this process (the analysers of one pipeline, or of a Lambda container)."""
        key = options.model_dump_json()
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = cls(make_client(options), options)
            return cls._shared[key]

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """The response of one operation (of :data:`OPERATIONS`), retried while transient; RekognitionError when
        Rekognition refuses it or stays throttled past the bound."""
        if operation not in OPERATIONS:
            raise ValueError(f"{operation} is not one of the Rekognition operations pixlens is allowed to call")
        method = getattr(self.client, operation)
        attempts = self.options.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response: dict[str, Any] = method(**params)
                return response
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in TRANSIENT:
                    raise RekognitionError(_reason(OPERATIONS[operation], code, exc)) from exc
                if attempt == attempts:
                    raise RekognitionError(
                        f"{OPERATIONS[operation]}: still {code} after {attempts} attempts; retry later "
                        "(pixlens reconcile --retry-failed)"
                    ) from exc
            except (ConnectionError, HTTPClientError) as exc:
                if attempt == attempts:
                    raise RekognitionError(f"{OPERATIONS[operation]}: no connection to Rekognition: {exc}") from exc
            except BotoCoreError as exc:  # a parameter botocore refuses, missing credentials...
                raise RekognitionError(f"{OPERATIONS[operation]}: {exc}") from exc
            self.sleep(self.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): full jitter over a doubling, bounded wait."""
        ceiling = min(self.options.backoff_max_seconds, self.options.backoff_seconds * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)


def _reason(action: str, code: str, exc: ClientError) -> str:
    message = exc.response.get("Error", {}).get("Message", "")
    why = EXPLAINED.get(code, "Rekognition refused the request")
    return f"{action}: {code}: {why}" + (f" ({message})" if message else "")
