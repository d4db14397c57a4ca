"""The lakehouse on S3 with its tables in the AWS Glue Data Catalog, against an AWS emulator (moto
in server mode on loopback, see the `aws` fixture): the same tables as on local disk, incremental,
erasable, one writer at a time, crash-safe, and errors in one sentence."""

import subprocess
import sys

import boto3
import pytest
from conftest import contents, forget_aws_settings

from stedi import generate, query, run
from stedi.cli import main
from stedi.maintenance import history, vacuum
from stedi.schema import TABLES
from stedi.storage.s3 import StorageError

GLUE = {"catalog": "glue"}


def upload(folder, bucket: str, prefix: str) -> str:
    """Put a local landing folder's files under s3://bucket/prefix/; return that location."""
    s3 = boto3.client("s3")
    for path in folder.rglob("*.json"):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")
    return f"s3://{bucket}/{prefix}"


def objects(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def landing(tmp_path_factory, salted):
    """Generated landing data (120 customers) and a local warehouse built from it per policy."""
    folder = tmp_path_factory.mktemp("s3-landing")
    generate(str(folder), customers=120, seed=5)
    references = {}
    for policy in ("any", "as-of"):
        references[policy] = folder.parent / f"reference-{policy}"
        run(str(references[policy]), str(folder), policy)
    return folder, references


@pytest.mark.parametrize("policy", ["any", "as-of"])
def test_a_warehouse_on_s3_with_the_glue_catalog_has_the_rows_of_a_local_one(landing, bucket, policy):
    folder, references = landing
    source = upload(folder, bucket, "landing")
    warehouse = f"s3://{bucket}/lakehouse"
    run(warehouse, source, policy, catalog="glue", database=f"stedi_{policy.replace('-', '_')}")
    assert contents(warehouse, catalog="glue", database=f"stedi_{policy.replace('-', '_')}") == contents(references[policy])
