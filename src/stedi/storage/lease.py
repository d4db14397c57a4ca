"""One writer at a time on S3, without a lock file: a lease object made with conditional writes.

The lease is taken with ``If-None-Match: *`` (only one writer can create it), renewed while the
run lasts and released with ``If-Match`` on its own ETag, so no writer can touch a lease it does
not hold. A lease past its expiry (its holder was killed) is taken over with ``If-Match`` on the
ETag seen expired: of two writers racing for it, one wins.
"""

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager

from .s3 import StorageError, client, no_bucket

DEFAULT_SECONDS = 300  # a killed run blocks the next one this long at most


class Busy(Exception):
    """Another writer holds the lease."""


def _precondition_failed(error) -> bool:
    return error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "412")


@contextmanager
def lease(location: str, seconds: float | None = None):
    """Hold the lease object at ``s3://bucket/key`` for the duration of the block; Busy if another
    writer holds it."""
    import botocore.exceptions

    seconds = seconds or float(os.environ.get("STEDI_LEASE_SECONDS", DEFAULT_SECONDS))
    bucket, key = location.removeprefix("s3://").split("/", 1)
    s3 = client("s3")
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def body() -> bytes:
        return json.dumps({"holder": holder, "expires": time.time() + seconds}).encode()

    try:
        etag = _take(s3, bucket, key, body)
    except botocore.exceptions.ClientError as error:
        raise _sentence(error, bucket) from None
    except botocore.exceptions.BotoCoreError as error:
        raise StorageError(f"S3 cannot be reached for {location}: {error}") from None
    stop = threading.Event()
    held = {"etag": etag}

    def renew():
        while not stop.wait(seconds / 3):
            try:
                held["etag"] = s3.put_object(Bucket=bucket, Key=key, Body=body(), IfMatch=held["etag"])["ETag"]
            except Exception:  # a lost lease ends at the next commit: Iceberg refuses a stale commit
                return

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            s3.delete_object(Bucket=bucket, Key=key, IfMatch=held["etag"])
        except botocore.exceptions.ClientError:
            pass  # taken over after it expired: it is no longer ours to delete


def _take(s3, bucket: str, key: str, body) -> str:
    """Create the lease, or take over an expired one; return its ETag."""
    import botocore.exceptions

    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body(), IfNoneMatch="*")["ETag"]
    except botocore.exceptions.ClientError as error:
        if not _precondition_failed(error):
            raise
    try:
        current = s3.get_object(Bucket=bucket, Key=key)
        expires = json.loads(current["Body"].read()).get("expires", 0)
    except botocore.exceptions.ClientError:  # released meanwhile: try once more from the start
        return s3.put_object(Bucket=bucket, Key=key, Body=body(), IfNoneMatch="*")["ETag"]
    except ValueError:
        expires = 0  # not a lease we wrote: treat it as expired
    if expires > time.time():
        raise Busy(f"until {time.strftime('%H:%M:%S', time.localtime(expires))} at the latest")
    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body(), IfMatch=current["ETag"])["ETag"]
    except botocore.exceptions.ClientError as error:
        if _precondition_failed(error):
            raise Busy("another writer took over an expired lease first") from None
        raise


def _sentence(error, bucket: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return no_bucket(bucket)
    if code in ("AccessDenied", "403"):
        return StorageError(f"access denied to the bucket {bucket}: the AWS credentials in use may not write to it")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return StorageError(f"the AWS credentials in use are not valid ({code})")
    return StorageError(f"S3 refused the lease in {bucket}: {code or error}")
