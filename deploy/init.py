#!/opt/pixlens/bin/python
"""pixlens-init: the one-shot set-up of a pixlens cluster, run before the API starts. Safe to run again.

1. The bucket of ``PIXLENS_STORE=s3://bucket/prefix`` is made unless it exists (with ``PIXLENS_S3__ENDPOINT_URL``,
   ``PIXLENS_S3__REGION`` and the AWS_* credentials the store itself uses). Any other store: nothing to make.
2. The catalog is opened (``pixlens keys list``), which creates or migrates its tables.
3. While no API key is in use, an admin key is made and printed once, in this job's log: ``pixlens serve`` on
   0.0.0.0 refuses to start without one. Keep it, or make your own and revoke this one.

Each step is retried for a while: in Kubernetes nothing orders this job after the servers it needs.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

ATTEMPTS = int(os.environ.get("INIT_ATTEMPTS", "30"))
PAUSE_SECONDS = float(os.environ.get("INIT_PAUSE_SECONDS", "2"))
KEY_NAME = "pixlens-init"
PIXLENS = os.environ.get("INIT_PIXLENS_COMMAND", "pixlens")  # not PIXLENS_*: those are settings

T = TypeVar("T")


def bucket_of(store_url: str) -> str | None:
    """The bucket an ``s3://bucket/prefix`` store names; None for any other store."""
    if not store_url.lower().startswith("s3://"):
        return None
    bucket = store_url[len("s3://") :].split("/", 1)[0]
    if not bucket:
        raise SystemExit(f"pixlens-init: no bucket in PIXLENS_STORE={store_url!r} (s3://bucket/prefix)")
    return bucket


def ensure_bucket(bucket: str) -> bool:
    """Make the bucket unless it exists; True when it was made."""
    boto3: Any = importlib.import_module("boto3")
    botocore_config: Any = importlib.import_module("botocore.config")
    errors: Any = importlib.import_module("botocore.exceptions")
    endpoint = os.environ.get("PIXLENS_S3__ENDPOINT_URL") or None
    region = os.environ.get("PIXLENS_S3__REGION") or None
    config = botocore_config.Config(
        s3={"addressing_style": "path" if endpoint else "auto"}, retries={"mode": "standard", "max_attempts": 5}
    )
    client = boto3.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1", config=config)
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except errors.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    options = {}
    if region and region != "us-east-1":  # AWS refuses the constraint for us-east-1, and needs it elsewhere
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    client.create_bucket(Bucket=bucket, **options)
    return True


def pixlens(*arguments: str) -> str:
    """Run a pixlens command; its standard output, or an error that carries its message."""
    done = subprocess.run([PIXLENS, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pixlens {' '.join(arguments)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def keys_in_use() -> list[dict[str, Any]]:
    """The API keys not revoked (``pixlens keys list --json``: one JSON object a line)."""
    rows = [json.loads(line) for line in pixlens("keys", "list", "--json").splitlines() if line.strip()]
    return [row for row in rows if not row.get("RevokedAt")]


def ensure_admin_key() -> str | None:
    """A new admin key while no key is in use (printed by the caller, once); None when keys exist."""
    if keys_in_use():
        return None
    made = json.loads(pixlens("keys", "create", "--scope", "admin", "--name", KEY_NAME, "--json"))
    return str(made["Key"])


def retried(step: str, action: Callable[[], T]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return action()
        except Exception as exc:  # a server not up yet: wait and ask again, then give up saying why
            if attempt == ATTEMPTS:
                raise SystemExit(f"pixlens-init: {step} failed {ATTEMPTS} times, the last: {exc}") from exc
            print(f"pixlens-init: {step} not yet ({exc}); again in {PAUSE_SECONDS:g} s", file=sys.stderr, flush=True)
            time.sleep(PAUSE_SECONDS)
    raise AssertionError("unreachable")


def main() -> int:
    bucket = bucket_of(os.environ.get("PIXLENS_STORE", ""))
    if bucket is not None:
        made = retried(f"bucket {bucket}", lambda: ensure_bucket(bucket))
        print(f"pixlens-init: bucket {bucket} {'made' if made else 'exists'}", flush=True)
    key = retried("catalog and API key", ensure_admin_key)
    if key is None:
        print("pixlens-init: API keys exist; none made", flush=True)
    else:
        print(f"pixlens-init: admin API key (shown only now, keep it): {key}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
