"""`stedi deploy` / `stedi destroy`: the lakehouse on AWS (S3, Glue, IAM, Athena) with boto3.

Each resource kind is a pair of small functions, its desired definition and its current state;
`plan` compares them (create / update / unchanged per resource) and `deploy` applies the plan.
The same desired definitions make the CloudFormation template of `template`. Everything deploy
creates is tagged ``stedi:deployment=s3://BUCKET/PREFIX`` (Glue databases and tables, which take
no tags, carry it as a parameter); `destroy` finds what it removes by that tag.

Layout under s3://BUCKET/PREFIX/: ``landing/`` (uploaded landing files, ``<source>/landing/*.json``),
``lakehouse/`` (the warehouse), ``glue/`` (job scripts and the project wheel), ``athena/``
(query results).
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .contract import SOURCES
from .storage.s3 import NO_CREDENTIALS

TAG = "stedi:deployment"
JOBS = ("customer_trusted", "accelerometer_trusted", "customer_curated", "step_trainer_trusted",
        "machine_learning_curated")  # the workflow's order: each job's inputs are built before it
ROOT = Path(__file__).resolve().parents[2]  # the source checkout: glue/, sql/ and pyproject.toml
PART = 8 * 1024 * 1024  # S3 upload part size; a file's expected ETag depends on it
BOOKMARKS = ("Glue job bookmarks are off: stedi records which landing files it has ingested and "
             "rebuilds a table only when its inputs change.")


class DeployError(Exception):
    """Something the user can fix; the message is one sentence and holds no secret."""


@dataclass(frozen=True)
class Target:
    """Where and how to deploy."""

    region: str
    bucket: str
    prefix: str = ""
    database: str = "stedi"
    role_arn: str | None = None
    source: str | None = None  # a local landing folder, an s3:// landing folder, or none (s3://.../landing)
    worker_type: str = "G.1X"
    workers: int = 2
    consent_policy: str = "any"

    @property
    def tag(self) -> str:
        return f"s3://{self.bucket}/{self.key()}".rstrip("/")

    @property
    def name(self) -> str:
        """The stem of every resource name: stedi, or stedi-<prefix>."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.prefix.lower()).strip("-")
        return f"stedi-{slug}"[:40] if slug else "stedi"

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    @property
    def raw_database(self) -> str:
        """The database of the Athena tables over the landing files as received (sql/*.sql): the
        database of the lakehouse holds stedi's own landing tables under the same names."""
        return f"{self.database}_raw"

    @property
    def landing(self) -> str:
        """The jobs' --source: the s3:// landing folder."""
        return self.source if _is_s3(self.source) else self.uri("landing")


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    spec: dict  # the desired definition, in the shape the AWS API takes


@dataclass(frozen=True)
class Step:
    action: str  # create, update or unchanged
    resource: Resource


# Desired definitions ----------------------------------------------------------------------------

def desired(target: Target, account: str, region: str, wheel_name: str) -> list[Resource]:
    """Every resource but the bucket and the uploads, in the order they are created. `account` and
    `region` may be CloudFormation's pseudo parameters (${AWS::AccountId}, ${AWS::Region})."""
    role = _role(target, account, region)
    role_arn = target.role_arn or f"arn:aws:iam::{account}:role{role.spec['Path']}{role.name}"
    return [_database(target.database, "STEDI lakehouse: landing, trusted and curated Iceberg tables", target),
            _database(target.raw_database, "STEDI landing files as received (JSON), for Athena", target),
            *_tables(target), *([] if target.role_arn else [role]),
            *(_job(target, table, role_arn, wheel_name) for table in JOBS), _workflow(target),
            *_triggers(target), _workgroup(target)]


def _database(name: str, description: str, target: Target) -> Resource:
    return Resource("glue database", name, {
        "Name": name, "Description": description, "LocationUri": target.uri("lakehouse"),
        "Parameters": {TAG: target.tag}})


def _tables(target: Target) -> list[Resource]:
    """The Athena landing tables of sql/*.sql, as Glue tables in the raw database (Athena reads the
    Glue catalog)."""
    import sqlglot
    from sqlglot import exp

    tables = []
    for source in SOURCES:
        text = Template((ROOT / "sql" / f"{source}_landing.sql").read_text())
        create = sqlglot.parse_one(text.substitute(warehouse=target.uri("lakehouse")), read="athena")
        serde = create.find(exp.RowFormatSerdeProperty)
        formats = create.find(exp.InputOutputFormat)
        properties = {p.name: p.args["value"].name for p in create.args["properties"].expressions
                      if type(p) is exp.Property}
        name = create.this.this.name
        tables.append(Resource("glue table", name, {
            "Name": name, "TableType": "EXTERNAL_TABLE",
            "Parameters": {**properties, "EXTERNAL": "TRUE", TAG: target.tag},
            "StorageDescriptor": {
                "Columns": [{"Name": c.name, "Type": c.args["kind"].sql("hive").lower()}
                            for c in create.this.expressions],
                "Location": create.find(exp.LocationProperty).this.name,
                "InputFormat": formats.args["input_format"].name,
                "OutputFormat": formats.args["output_format"].name,
                "SerdeInfo": {"SerializationLibrary": serde.this.name, "Parameters": {
                    p.this.name: p.args["value"].name for p in serde.args["serde_properties"].expressions}},
            }}))
    return tables


def _role(target: Target, account: str, region: str) -> Resource:
    """The Glue jobs' role: S3 under the prefix, the catalog database and its tables, Glue's job logs."""
    bucket = f"arn:aws:s3:::{target.bucket}"
    keys = f"{target.key()}/*" if target.prefix.strip("/") else "*"
    glue = f"arn:aws:glue:{region}:{account}"
    logs = f"arn:aws:logs:{region}:{account}:log-group:/aws-glue/jobs/*"
    list_bucket = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket}
    if keys != "*":
        list_bucket["Condition"] = {"StringLike": {"s3:prefix": [target.key(), keys]}}
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ThePrefix", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"{bucket}/{keys}"},
        {"Sid": "ListThePrefix", **list_bucket},
        {"Sid": "TheBucketRegion", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket},
        {"Sid": "TheDatabase", "Effect": "Allow",
         "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
                    "glue:DeleteTable", "glue:GetPartitions", "glue:BatchGetPartition"],
         "Resource": [f"{glue}:catalog", f"{glue}:database/{target.database}",
                      f"{glue}:table/{target.database}/*"]},
        {"Sid": "GlueJobLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [logs, f"{logs}:log-stream:*"]},
    ]}
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    name = f"{target.name}-glue-{region}"
    return Resource("iam role", name, {
        "RoleName": name, "Path": "/stedi/", "Description": f"STEDI Glue jobs of {target.tag}",
        "AssumeRolePolicyDocument": trust, "Policy": policy})


def _job(target: Target, table: str, role_arn: str, wheel_name: str) -> Resource:
    name = f"{target.name}-{table}"
    return Resource("glue job", name, {
        "Name": name, "Role": role_arn, "GlueVersion": "5.0",
        "Description": f"STEDI: builds {table} and the tables it is built from. {BOOKMARKS}",
        "Command": {"Name": "glueetl", "ScriptLocation": target.uri("glue", "scripts", f"{table}.py"),
                    "PythonVersion": "3"},
        "DefaultArguments": {
            "--additional-python-modules": target.uri("glue", "wheels", wheel_name),
            "--warehouse": target.uri("lakehouse"), "--source": target.landing, "--catalog": "glue",
            "--database": target.database, "--consent_policy": target.consent_policy,
            "--job-bookmark-option": "job-bookmark-disable"},
        "WorkerType": target.worker_type, "NumberOfWorkers": target.workers,
        "ExecutionProperty": {"MaxConcurrentRuns": 1}, "MaxRetries": 0, "Timeout": 120})


def _workflow(target: Target) -> Resource:
    return Resource("glue workflow", target.name, {
        "Name": target.name, "Description": f"STEDI: the five Glue jobs of {target.tag}, in order",
        "MaxConcurrentRuns": 1})


def _triggers(target: Target) -> list[Resource]:
    """An on-demand start trigger, then one conditional trigger per job: the next starts when it succeeds."""
    jobs = [f"{target.name}-{table}" for table in JOBS]
    start = Resource("glue trigger", f"{target.name}-start", {
        "Name": f"{target.name}-start", "WorkflowName": target.name, "Type": "ON_DEMAND",
        "Actions": [{"JobName": jobs[0]}]})
    return [start, *(Resource("glue trigger", f"{target.name}-after-{before}", {
        "Name": f"{target.name}-after-{before}", "WorkflowName": target.name, "Type": "CONDITIONAL",
        "Predicate": {"Logical": "AND", "Conditions": [
            {"LogicalOperator": "EQUALS", "JobName": job_before, "State": "SUCCEEDED"}]},
        "Actions": [{"JobName": job}]}) for before, job_before, job in zip(JOBS, jobs, jobs[1:]))]


def _workgroup(target: Target) -> Resource:
    return Resource("athena workgroup", target.name, {
        "Name": target.name, "Description": f"STEDI: queries over {target.database}, results in the prefix",
        "Configuration": {"ResultConfiguration": {"OutputLocation": target.uri("athena") + "/"},
                          "EnforceWorkGroupConfiguration": True}})


def _uploads(target: Target, wheel: Path) -> list[Resource]:
    """The bucket, the job scripts, the wheel and the local landing files, as S3 resources."""
    files = [(ROOT / "glue" / f"{table}.py", target.key("glue", "scripts", f"{table}.py")) for table in JOBS]
    files.append((wheel, target.key("glue", "wheels", wheel.name)))
    if target.source and not _is_s3(target.source):
        folder = Path(target.source)
        if not folder.is_dir():
            raise DeployError(f"the landing folder {folder} does not exist")
        files += [(path, target.key("landing", str(path.relative_to(folder))))
                  for source in SOURCES for path in sorted((folder / source / "landing").glob("*.json"))]
    return [Resource("s3 bucket", target.bucket, {"Bucket": target.bucket})] + [
        Resource("s3 object", key, {"Key": key, "ContentLength": path.stat().st_size, "ETag": _etag(path),
                                    "File": str(path)}) for path, key in files]


def _etag(path: Path) -> str:
    """The ETag S3 gives the file when uploaded in PART-sized parts (the MD5, for one part)."""
    digests = []
    with path.open("rb") as file:
        while chunk := file.read(PART):
            digests.append(hashlib.md5(chunk).digest())
    if not digests:
        return f'"{hashlib.md5().hexdigest()}"'
    if len(digests) == 1:
        return f'"{digests[0].hex()}"'
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def _is_s3(location: str | None) -> bool:
    return bool(location) and location.startswith("s3://")


# Current state and changes ----------------------------------------------------------------------

class _Aws:
    """boto3 clients of one session, with the deployment they serve and its account."""

    def __init__(self, target: Target, session=None):
        import boto3

        self.target = target
        self.session = session or boto3.Session(region_name=target.region)
        self.clients = {}
        self.account = self.sts.get_caller_identity()["Account"]

    def __getattr__(self, service: str):
        if service not in self.clients:
            self.clients[service] = self.session.client(service, region_name=self.target.region)
        return self.clients[service]

    def glue_tags(self, kind: str, name: str) -> dict:
        arn = f"arn:aws:glue:{self.target.region}:{self.account}:{kind}/{name}"
        return self.glue.get_tags(ResourceArn=arn)["Tags"]


def _get(call, missing: tuple[str, ...], **kwargs):
    """The response of `call`, or None when AWS says the thing is not there (one of the `missing` codes)."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"] in missing:
            return None
        raise


def _tag_map(target: Target) -> dict:
    return {TAG: target.tag}


def _tag_list(target: Target) -> list[dict]:
    return [{"Key": TAG, "Value": target.tag}]


# Each current-state function returns (the live definition, its stedi:deployment tag) or None.

def _bucket_now(aws: _Aws, r: Resource):
    from botocore.exceptions import ClientError

    try:
        aws.s3.head_bucket(Bucket=r.name, ExpectedBucketOwner=aws.account)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return None
        if error.response["Error"]["Code"] in ("403", "AccessDenied"):
            raise DeployError(f"the bucket {r.name} belongs to another AWS account, or these credentials "
                              "may not use it") from None
        raise
    return r.spec, aws.target.tag


def _bucket_create(aws: _Aws, r: Resource) -> None:
    where = {} if aws.target.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": aws.target.region}}
    try:
        aws.s3.create_bucket(Bucket=r.name, **where)
    except aws.s3.exceptions.BucketAlreadyExists:
        raise DeployError(f"the bucket name {r.name} is taken by another AWS account: choose another") from None
    aws.s3.put_public_access_block(Bucket=r.name, PublicAccessBlockConfiguration={
        name: True for name in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    aws.s3.put_bucket_tagging(Bucket=r.name, Tagging={"TagSet": _tag_list(aws.target)})


def _object_now(aws: _Aws, r: Resource):
    head = _get(aws.s3.head_object, ("404", "NoSuchKey", "NoSuchBucket"), Bucket=aws.target.bucket, Key=r.name)
    return head and ({**r.spec, "ContentLength": head["ContentLength"], "ETag": head["ETag"]}, aws.target.tag)


def _object_put(aws: _Aws, r: Resource) -> None:
    from boto3.s3.transfer import TransferConfig

    aws.s3.upload_file(r.spec["File"], aws.target.bucket, r.name, Config=TransferConfig(PART, multipart_chunksize=PART),
                       ExtraArgs={"Tagging": urllib.parse.urlencode(_tag_map(aws.target))})


def _database_now(aws: _Aws, r: Resource):
    found = _get(aws.glue.get_database, ("EntityNotFoundException",), Name=r.name)
    return found and (found["Database"], found["Database"].get("Parameters", {}).get(TAG, ""))


def _table_now(aws: _Aws, r: Resource):
    found = _get(aws.glue.get_table, ("EntityNotFoundException",), DatabaseName=aws.target.raw_database, Name=r.name)
    return found and (found["Table"], found["Table"].get("Parameters", {}).get(TAG, ""))


def _role_now(aws: _Aws, r: Resource):
    role = _get(aws.iam.get_role, ("NoSuchEntity",), RoleName=r.name)
    if role is None:
        return None
    policy = _get(aws.iam.get_role_policy, ("NoSuchEntity",), RoleName=r.name, PolicyName="stedi")
    tags = {t["Key"]: t["Value"] for t in aws.iam.list_role_tags(RoleName=r.name)["Tags"]}
    return {**role["Role"], "Policy": policy and policy["PolicyDocument"]}, tags.get(TAG, "")


def _role_create(aws: _Aws, r: Resource) -> None:
    aws.iam.create_role(RoleName=r.name, Path=r.spec["Path"], Description=r.spec["Description"],
                        AssumeRolePolicyDocument=json.dumps(r.spec["AssumeRolePolicyDocument"]),
                        Tags=_tag_list(aws.target))
    aws.iam.put_role_policy(RoleName=r.name, PolicyName="stedi", PolicyDocument=json.dumps(r.spec["Policy"]))


def _role_update(aws: _Aws, r: Resource) -> None:
    aws.iam.update_role(RoleName=r.name, Description=r.spec["Description"])
    aws.iam.update_assume_role_policy(RoleName=r.name, PolicyDocument=json.dumps(r.spec["AssumeRolePolicyDocument"]))
    aws.iam.put_role_policy(RoleName=r.name, PolicyName="stedi", PolicyDocument=json.dumps(r.spec["Policy"]))


def _glue_now(kind: str, get, key: str, field: str):
    """The current-state function of a taggable Glue resource (job, workflow, trigger)."""
    def now(aws: _Aws, r: Resource):
        found = _get(getattr(aws.glue, get), ("EntityNotFoundException",), **{key: r.name})
        return found and (found[field], aws.glue_tags(kind, r.name).get(TAG, ""))
    return now


def _trigger_extras(r: Resource) -> dict:
    """What a trigger is created with but the API does not report back: conditional ones start active."""
    return {"StartOnCreation": True} if r.spec["Type"] == "CONDITIONAL" else {}


def _workgroup_now(aws: _Aws, r: Resource):
    found = _get(aws.athena.get_work_group, ("InvalidRequestException",), WorkGroup=r.name)
    if not (found or {}).get("WorkGroup"):  # AWS says InvalidRequestException, moto an empty answer
        return None
    arn = f"arn:aws:athena:{aws.target.region}:{aws.account}:workgroup/{r.name}"
    tags = {t["Key"]: t["Value"] for t in aws.athena.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    return found["WorkGroup"], tags.get(TAG, "")


def _workgroup_update(aws: _Aws, r: Resource) -> None:
    configuration = r.spec["Configuration"]
    aws.athena.update_work_group(WorkGroup=r.name, Description=r.spec["Description"], ConfigurationUpdates={
        "ResultConfigurationUpdates": configuration["ResultConfiguration"],
        "EnforceWorkGroupConfiguration": configuration["EnforceWorkGroupConfiguration"]})


# kind: (current state, create, update). Updates send the full definition (Glue's UpdateJob resets
# whatever it is not given).
KINDS = {
    "s3 bucket": (_bucket_now, _bucket_create, None),
    "s3 object": (_object_now, _object_put, _object_put),
    "glue database": (_database_now, lambda aws, r: aws.glue.create_database(DatabaseInput=r.spec),
                      lambda aws, r: aws.glue.update_database(Name=r.name, DatabaseInput=r.spec)),
    "glue table": (_table_now,
                   lambda aws, r: aws.glue.create_table(DatabaseName=aws.target.raw_database, TableInput=r.spec),
                   lambda aws, r: aws.glue.update_table(DatabaseName=aws.target.raw_database, TableInput=r.spec)),
    "iam role": (_role_now, _role_create, _role_update),
    "glue job": (_glue_now("job", "get_job", "JobName", "Job"),
                 lambda aws, r: aws.glue.create_job(**r.spec, Tags=_tag_map(aws.target)),
                 lambda aws, r: aws.glue.update_job(JobName=r.name, JobUpdate={
                     k: v for k, v in r.spec.items() if k != "Name"})),
    "glue workflow": (_glue_now("workflow", "get_workflow", "Name", "Workflow"),
                      lambda aws, r: aws.glue.create_workflow(**r.spec, Tags=_tag_map(aws.target)),
                      lambda aws, r: aws.glue.update_workflow(**r.spec)),
    "glue trigger": (_glue_now("trigger", "get_trigger", "Name", "Trigger"),
                     lambda aws, r: aws.glue.create_trigger(**r.spec, **_trigger_extras(r), Tags=_tag_map(aws.target)),
                     lambda aws, r: aws.glue.update_trigger(Name=r.name, TriggerUpdate={
                         k: v for k, v in r.spec.items() if k in ("Actions", "Predicate", "Description")})),
    "athena workgroup": (_workgroup_now,
                         lambda aws, r: aws.athena.create_work_group(**r.spec, Tags=_tag_list(aws.target)),
                         _workgroup_update),
}


def _contains(live, want) -> bool:
    """Whether the live definition holds everything desired (AWS adds defaults and timestamps)."""
    if isinstance(want, dict):
        return isinstance(live, dict) and all(k in live and _contains(live[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(map(_contains, live, want))
    return live == want


def plan(aws: _Aws, resources: list[Resource]) -> list[Step]:
    """Create, update or unchanged for each resource; DeployError for one another deployment owns."""
    steps = []
    for r in resources:
        current = KINDS[r.kind][0](aws, r)
        if current is None:
            steps.append(Step("create", r))
            continue
        live, owner = current
        if owner != aws.target.tag:
            raise DeployError(f"the {r.kind} {r.name} exists and was not made by this deployment "
                              f"({TAG}={owner or 'none'}): remove it or deploy with another prefix or database")
        steps.append(Step("unchanged" if _contains(live, r.spec) else "update", r))
    return steps


def deploy(target: Target, wheel: Path | None = None, dry_run: bool = False, session=None,
           report=lambda step: None) -> list[Step]:
    """Create or update every resource of `target` (with `dry_run`, only plan); report each step."""
    with _aws_errors():
        aws = _Aws(target, session)
        with tempfile.TemporaryDirectory() as folder:
            wheel = wheel or build_wheel(Path(folder))
            steps = plan(aws, _uploads(target, wheel) + desired(target, aws.account, target.region, wheel.name))
            for step in steps:
                if step.action != "unchanged" and not dry_run:
                    KINDS[step.resource.kind][1 if step.action == "create" else 2](aws, step.resource)
                report(step)
    return steps


def build_wheel(folder: Path) -> Path:
    """The project wheel, built into `folder`."""
    if not (ROOT / "pyproject.toml").is_file():
        raise DeployError(f"stedi deploy runs from a source checkout of stedi-lakehouse; {ROOT} is not one")
    # Offline, with this environment's setuptools (the aws extra's), so the same setuptools and sources
    # give the same bytes: an unchanged wheel is not uploaded again.
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(folder), str(ROOT)],
                           capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"})
    wheels = list(folder.glob("*.whl"))
    if built.returncode or len(wheels) != 1:
        last = (built.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise DeployError(f"building the project wheel failed: {last}")
    return wheels[0]


def resolve_region(region: str | None) -> str:
    """`region`, else the one the standard AWS configuration names; DeployError if none."""
    import boto3

    region = region or boto3.Session().region_name
    if not region:
        raise DeployError("no AWS region given: use --region or set AWS_DEFAULT_REGION")
    return region


@contextmanager
def _aws_errors():
    """AWS errors a user can cause, as one-sentence DeployErrors."""
    from botocore import exceptions

    try:
        yield
    except (exceptions.NoCredentialsError, exceptions.PartialCredentialsError):
        raise DeployError(NO_CREDENTIALS) from None
    except exceptions.NoRegionError:
        raise DeployError("no AWS region given: use --region or set AWS_DEFAULT_REGION") from None
    except exceptions.EndpointConnectionError as error:
        raise DeployError(f"cannot reach AWS at {error.kwargs.get('endpoint_url')}") from None
    except exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
            raise DeployError(f"AWS denied {error.operation_name} ({code}): the credentials in use lack that "
                              "permission") from None
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
                    "UnrecognizedClientException"):
            raise DeployError(f"AWS did not accept the credentials in use ({code})") from None
        raise


# Destroy ----------------------------------------------------------------------------------------

def _pages(call, key: str, **kwargs):
    """Every item under `key` of a paginated List/Get call."""
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def _deployed(aws: _Aws, delete_data: bool) -> list[tuple[str, str]]:
    """(kind, name) of what deploy made for the target, found by its tag, in the order to delete."""
    tag, bucket = aws.target.tag, aws.target.bucket
    tagged = _tag_map(aws.target)
    found = [("glue trigger", name) for name in _pages(aws.glue.list_triggers, "TriggerNames", Tags=tagged)]
    found += [("glue workflow", name) for name in _pages(aws.glue.list_workflows, "Workflows")
              if aws.glue_tags("workflow", name).get(TAG) == tag]
    found += [("glue job", name) for name in _pages(aws.glue.list_jobs, "JobNames", Tags=tagged)]
    found += [("athena workgroup", w["Name"]) for w in _pages(aws.athena.list_work_groups, "WorkGroups")
              if _workgroup_now(aws, Resource("", w["Name"], {}))[1] == tag]
    found += [("iam role", role["RoleName"]) for page in aws.iam.get_paginator("list_roles").paginate(
        PathPrefix="/stedi/") for role in page["Roles"] if _role_now(aws, Resource("", role["RoleName"], {}))[1] == tag]
    found += [("s3 object", key) for key in _keys(aws, "glue")
              if _tag_list(aws.target)[0] in aws.s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]
    if delete_data:
        databases = [d["Name"] for d in _pages(aws.glue.get_databases, "DatabaseList")
                     if d.get("Parameters", {}).get(TAG) == tag]
        found += [("glue table", f"{db}.{t['Name']}") for db in databases
                  for t in _pages(aws.glue.get_tables, "TableList", DatabaseName=db)]
        found += [("glue database", db) for db in databases]
        found += [("s3 folder", aws.target.key(folder) + "/") for folder in ("landing", "lakehouse", "athena")
                  if _keys(aws, folder)]
        tags = _get(aws.s3.get_bucket_tagging, ("NoSuchTagSet", "NoSuchBucket"), Bucket=bucket)
        if tags and _tag_list(aws.target)[0] in tags["TagSet"]:
            found.append(("s3 bucket", bucket))
    return found


def _keys(aws: _Aws, folder: str) -> list[str]:
    return [key for page in _key_pages(aws, aws.target.key(folder) + "/") for key in page]


def _key_pages(aws: _Aws, prefix: str):
    """The keys under `prefix`, a page (up to 1,000) at a time."""
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=aws.target.bucket, Prefix=prefix)
    return [[item["Key"] for item in page.get("Contents", [])] for page in pages]


def _delete_folder(aws: _Aws, prefix: str) -> None:
    for keys in _key_pages(aws, prefix):
        aws.s3.delete_objects(Bucket=aws.target.bucket, Delete={"Objects": [{"Key": key} for key in keys]})


def _delete_role(aws: _Aws, name: str) -> None:
    for policy in aws.iam.list_role_policies(RoleName=name)["PolicyNames"]:
        aws.iam.delete_role_policy(RoleName=name, PolicyName=policy)
    aws.iam.delete_role(RoleName=name)


def _delete_bucket(aws: _Aws, name: str) -> bool:
    if aws.s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount"):
        return False  # it holds what deploy did not put there: it stays
    aws.s3.delete_bucket(Bucket=name)
    return True


DELETE = {
    "glue trigger": lambda aws, name: aws.glue.delete_trigger(Name=name),
    "glue workflow": lambda aws, name: aws.glue.delete_workflow(Name=name),
    "glue job": lambda aws, name: aws.glue.delete_job(JobName=name),
    "athena workgroup": lambda aws, name: aws.athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True),
    "iam role": _delete_role,
    "s3 object": lambda aws, key: aws.s3.delete_object(Bucket=aws.target.bucket, Key=key),
    "s3 folder": _delete_folder,
    "glue table": lambda aws, name: aws.glue.delete_table(DatabaseName=name.split(".")[0], Name=name.split(".", 1)[1]),
    "glue database": lambda aws, name: aws.glue.delete_database(Name=name),
    "s3 bucket": _delete_bucket,
}


def destroy(target: Target, delete_data: bool = False, session=None,
            report=lambda kind, name: None) -> list[tuple[str, str]]:
    """Delete what deploy made for `target` (found by its tag); the landing data, the warehouse and
    the tables too only with `delete_data`. Returns (kind, name) of what it deleted."""
    deleted = []
    with _aws_errors():
        aws = _Aws(target, session)
        for kind, name in _deployed(aws, delete_data):
            if DELETE[kind](aws, name) is not False:  # False: left in place (a bucket holding other objects)
                deleted.append((kind, name))
                report(kind, name)
    return deleted


# Run the workflow -------------------------------------------------------------------------------

def run_workflow(target: Target, report=print, session=None, poll: float = 15, sleep=time.sleep) -> bool:
    """Start the deployment's workflow and follow it to the end; whether every job succeeded."""
    with _aws_errors():
        aws = _Aws(target, session)
        run_id = aws.glue.start_workflow_run(Name=target.name)["RunId"]
        report(f"started workflow {target.name}, run {run_id}")
        return follow(aws.glue, target.name, run_id, report, poll, sleep)


def follow(glue, workflow: str, run_id: str, report, poll: float = 15, sleep=time.sleep) -> bool:
    """Report each job's state as it changes (with its duration and error) until the run ends."""
    seen = {}
    while True:
        run = glue.get_workflow_run(Name=workflow, RunId=run_id, IncludeGraph=True)["Run"]
        jobs = [n for n in run.get("Graph", {}).get("Nodes", []) if n["Type"] == "JOB"]
        for node in jobs:
            runs = node.get("JobDetails", {}).get("JobRuns", [])
            latest = max(runs, key=lambda r: r["StartedOn"]) if runs else None
            if latest and seen.get(node["Name"]) != latest["JobRunState"]:
                seen[node["Name"]] = latest["JobRunState"]
                took = f" after {latest['ExecutionTime']}s" if latest.get("ExecutionTime") else ""
                error = f": {latest['ErrorMessage']}" if latest.get("ErrorMessage") else ""
                report(f"{node['Name']}: {latest['JobRunState']}{took}{error}")
        if run["Status"] in ("COMPLETED", "STOPPED", "ERROR"):
            succeeded = sum(state == "SUCCEEDED" for state in seen.values())
            error = f": {run['ErrorMessage']}" if run.get("ErrorMessage") else ""
            report(f"workflow run {run['Status']}{error}: {succeeded} of {len(jobs)} jobs succeeded")
            return run["Status"] == "COMPLETED" and succeeded == len(jobs) > 0
        sleep(poll)


# CloudFormation ---------------------------------------------------------------------------------

NEEDS = {"glue table": ("glue database",), "glue job": ("iam role",), "glue trigger": ("glue workflow", "glue job")}


def template(target: Target, wheel_name: str) -> dict:
    """The CloudFormation template of the same resources (the bucket and the uploads excepted)."""
    resources = desired(target, "${AWS::AccountId}", "${AWS::Region}", wheel_name)
    tags, tag_list = _tag_map(target), _tag_list(target)
    properties = {
        "glue database": lambda r: ("AWS::Glue::Database", {"CatalogId": "${AWS::AccountId}", "DatabaseInput": r.spec}),
        "glue table": lambda r: ("AWS::Glue::Table", {"CatalogId": "${AWS::AccountId}",
                                                      "DatabaseName": target.raw_database, "TableInput": r.spec}),
        "iam role": lambda r: ("AWS::IAM::Role", {
            **{k: v for k, v in r.spec.items() if k != "Policy"},
            "Policies": [{"PolicyName": "stedi", "PolicyDocument": r.spec["Policy"]}], "Tags": tag_list}),
        "glue job": lambda r: ("AWS::Glue::Job", {**r.spec, "Tags": tags}),
        "glue workflow": lambda r: ("AWS::Glue::Workflow", {**r.spec, "Tags": tags}),
        "glue trigger": lambda r: ("AWS::Glue::Trigger", {**r.spec, **_trigger_extras(r), "Tags": tags}),
        "athena workgroup": lambda r: ("AWS::Athena::WorkGroup", {
            "Name": r.spec["Name"], "Description": r.spec["Description"],
            "WorkGroupConfiguration": r.spec["Configuration"], "Tags": tag_list}),
    }
    body = {}
    for r in resources:
        kind, props = properties[r.kind](r)
        body[_logical_id(r)] = {"Type": kind, "Properties": _sub(props)}
        needs = [_logical_id(o) for o in resources if o.kind in NEEDS.get(r.kind, ())]
        if needs:
            body[_logical_id(r)]["DependsOn"] = needs
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"STEDI lakehouse on {target.tag}: upload glue/*.py to {target.uri('glue', 'scripts')}/ "
                           f"and the project wheel to {target.uri('glue', 'wheels', wheel_name)} first",
            "Resources": body}


def _logical_id(r: Resource) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", f"{r.kind} {r.name}"))


def _sub(value):
    """Strings naming CloudFormation pseudo parameters become Fn::Sub."""
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sub(v) for v in value]
    return {"Fn::Sub": value} if isinstance(value, str) and "${AWS::" in value else value


def write_template(target: Target, path: Path) -> None:
    """Write the template as YAML (.yaml, .yml) or JSON (anything else)."""
    from importlib.metadata import version

    body = template(target, f"stedi_lakehouse-{version('stedi-lakehouse')}-py3-none-any.whl")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        path.write_text(yaml.safe_dump(body, sort_keys=False))
    else:
        path.write_text(json.dumps(body, indent=2) + "\n")
