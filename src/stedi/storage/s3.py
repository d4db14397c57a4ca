"""How to reach S3: the standard AWS configuration (environment, config files, instance role),
resolved once by boto3, in the shape every client of this project takes.

Only storage/ reads it; engines map it to their own settings (DuckDB secrets, Spark's S3A keys).
"""

from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit


NO_CREDENTIALS = ("no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                  "or run where an IAM role provides them")


class StorageError(Exception):
    """Storage cannot be reached or used; the message is one sentence."""


def no_bucket(bucket: str) -> StorageError:
    return StorageError(f"the bucket {bucket} does not exist (or is in another account)")


@dataclass(frozen=True)
class S3Settings:
    region: str
    endpoint: str | None  # None: AWS itself; else an S3-compatible endpoint such as http://127.0.0.1:5000
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def use_ssl(self) -> bool:
        return self.endpoint is None or urlsplit(self.endpoint).scheme == "https"

    @property
    def host(self) -> str | None:
        """The endpoint's host[:port], as clients that take no scheme want it."""
        return urlsplit(self.endpoint).netloc if self.endpoint else None


@cache
def settings() -> S3Settings:
    """The S3 settings of the standard AWS configuration; StorageError if they are incomplete."""
    import boto3
    import botocore.exceptions

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise StorageError(NO_CREDENTIALS)
    if not session.region_name:
        raise StorageError("no AWS region set: set AWS_DEFAULT_REGION (or AWS_REGION, or a region in ~/.aws/config)")
    try:
        endpoint = session.client("s3").meta.endpoint_url
    except botocore.exceptions.BotoCoreError as error:
        raise StorageError(f"the AWS configuration is not usable: {error}") from None
    frozen = credentials.get_frozen_credentials()
    return S3Settings(
        region=session.region_name,
        endpoint=None if _is_aws(endpoint) else endpoint.rstrip("/"),
        access_key_id=frozen.access_key,
        secret_access_key=frozen.secret_key,
        session_token=frozen.token,
    )


def client(service: str):
    """A boto3 client of `service` in the settings' region, from a session of its own (its
    credentials refresh themselves, as an instance or Glue role's must)."""
    import boto3

    return boto3.Session(region_name=settings().region).client(service)


def aws_endpoint(service: str) -> str | None:
    """The endpoint the standard AWS configuration gives `service`, unless it is AWS's own."""
    endpoint = client(service).meta.endpoint_url
    return None if _is_aws(endpoint) else endpoint.rstrip("/")


def _is_aws(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))
