"""`stedi deploy` / `stedi destroy` / `--template` on the AWS emulator (moto server on loopback).

moto's gaps, and how the tests meet them: Glue UpdateJob is not implemented (a botocore hook
answers it in place of the emulator and records what it was sent); HeadBucket ignores
ExpectedBucketOwner (a hook gives AWS's answer, 403); workflow runs never run a job (the
following logic is tested on scripted GetWorkflowRun answers of AWS's documented shape); Athena
runs no SQL (the landing tables are made through the Glue API and checked there).
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from stedi import deploy
from stedi.cli import main
from stedi.deploy import JOBS, TAG, DeployError, Target

READS = ("Get", "List", "Head", "Describe")
ACCOUNT = "123456789012"  # moto's


@pytest.fixture
def target(bucket):
    """A deployment of its own (Glue and IAM names are account-wide, and the tests share the emulator)."""
    suffix = uuid.uuid4().hex[:6]
    return Target("us-east-1", bucket, f"dev-{suffix}", database=f"stedi_{suffix}")


def options(target: Target, *more) -> list:
    return ["--bucket", target.bucket, "--prefix", target.prefix, "--database", target.database, *more]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return deploy.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    from stedi import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(str(folder), customers=5)
    return folder


def recording(calls: list, answers: dict | None = None):
    """A boto3 session that records every call's operation name and parameters; `answers` maps an
    operation name to the (status, body) answered in place of the emulator."""
    session = boto3.Session()

    def record(model, params, **_):
        calls.append((model.name, params))

    def answer(model, **_):
        if model.name in (answers or {}):
            status, body = answers[model.name]
            return AWSResponse("http://emulator", status, {}, None), {**body, "ResponseMetadata": {}}

    session.events.register("before-parameter-build", record)
    session.events.register("before-call", answer)
    return session


def writes(calls: list) -> list[str]:
    return [name for name, _ in calls if not name.startswith(READS)]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def inventory(bucket: str) -> dict:
    """What the account holds, by kind: every name (and every key of `bucket`)."""
    glue, iam, athena = boto3.client("glue"), boto3.client("iam"), boto3.client("athena")
    return {
        "jobs": sorted(glue.list_jobs()["JobNames"]),
        "triggers": sorted(glue.list_triggers()["TriggerNames"]),
        "workflows": sorted(glue.list_workflows()["Workflows"]),
        "databases": sorted(d["Name"] for d in glue.get_databases()["DatabaseList"]),
        "tables": sorted(t["Name"] for d in glue.get_databases()["DatabaseList"]
                         for t in glue.get_tables(DatabaseName=d["Name"])["TableList"]),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "workgroups": sorted(w["Name"] for w in athena.list_work_groups()["WorkGroups"]),
        "keys": sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])),
    }


def test_deploy_makes_everything_and_a_second_deploy_changes_nothing(aws, wheel, landing, capsys):
    suffix = uuid.uuid4().hex[:8]
    target = Target("us-east-1", f"stedi-new-{suffix}", "dev", database=f"stedi_{suffix}", source=str(landing))
    code, out, err = cli(capsys, "deploy", *options(target, "--source", landing, "--wheel", wheel))  # makes the bucket
    assert code == 0, err
    lines = out.splitlines()
    assert all(line.startswith("create ") for line in lines[:-1])
    landing_files = sorted(landing.glob("*/landing/*.json"))
    # bucket, 5 scripts, wheel, landing files, 2 databases, 3 tables, role, 5 jobs, workflow, 5 triggers, workgroup
    assert len(lines) - 1 == 1 + 5 + 1 + len(landing_files) + 2 + 3 + 1 + 5 + 1 + 5 + 1
    assert lines[-1] == f"deployed {target.tag}: {len(lines) - 1} created, 0 updated, 0 unchanged"
    assert {"Key": TAG, "Value": target.tag} in boto3.client("s3").get_bucket_tagging(Bucket=target.bucket)["TagSet"]

    calls = []
    steps = deploy.deploy(target, wheel, session=recording(calls))
    assert {step.action for step in steps} == {"unchanged"} and len(steps) == len(lines) - 1
    assert calls and writes(calls) == []

    s3 = boto3.client("s3")
    s3.put_object(Bucket=target.bucket, Key="not-deploys.txt", Body=b"")
    destroy = ["destroy", "--bucket", target.bucket, "--prefix", "dev", "--delete-data", "--yes"]
    code, out, _ = cli(capsys, *destroy)
    assert code == 0 and "s3 bucket" not in out  # it holds an object deploy did not put there
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=target.bucket)["Contents"]] == ["not-deploys.txt"]
    s3.delete_object(Bucket=target.bucket, Key="not-deploys.txt")
    code, out, _ = cli(capsys, *destroy)
    assert code == 0 and out.splitlines() == [f"deleted s3 bucket {target.bucket}",
                                              f"destroyed {target.tag}: 1 resource(s) deleted"]
    assert target.bucket not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


def test_dry_run_plans_and_writes_nothing(target, wheel, landing, capsys):
    calls = []
    steps = deploy.deploy(Target(**{**vars(target), "source": str(landing)}), wheel, dry_run=True,
                          session=recording(calls))
    assert [s.action for s in steps] == ["unchanged"] + ["create"] * (len(steps) - 1)  # the bucket exists
    assert calls and writes(calls) == []
    assert inventory(target.bucket)["keys"] == []

    code, out, _ = cli(capsys, "deploy", *options(target, "--source", landing, "--wheel", wheel, "--dry-run"))
    assert code == 0 and out.splitlines()[-1] == (
        f"dry run, nothing changed: {len(steps) - 1} to create, 0 to update, 1 unchanged")
    after = inventory(target.bucket)
    assert after["keys"] == [] and not any(job.startswith(target.name) for job in after["jobs"])


def test_changes_are_updates_of_the_full_definition(target, wheel, landing, tmp_path):
    source = shutil.copytree(landing, tmp_path / "landing")
    deploy.deploy(Target(**{**vars(target), "source": str(source)}), wheel)

    changed = next(source.glob("customer/landing/*.json"))
    changed.write_text(changed.read_text() + changed.read_text().splitlines(keepends=True)[0])
    bigger = Target(**{**vars(target), "source": str(source), "workers": 5})
    calls = []  # moto has no UpdateJob: the hook answers it and records what it was sent
    steps = deploy.deploy(bigger, wheel, session=recording(calls, {"UpdateJob": (200, {})}))
    key = f"{target.prefix}/landing/customer/landing/{changed.name}"
    assert {(s.resource.kind, s.resource.name) for s in steps if s.action == "update"} == (
        {("s3 object", key)} | {("glue job", f"{target.name}-{table}") for table in JOBS})
    assert {s.action for s in steps} == {"update", "unchanged"}
    assert boto3.client("s3").get_object(Bucket=target.bucket, Key=key)["Body"].read() == changed.read_bytes()
    updates = [params for name, params in calls if name == "UpdateJob"]
    desired = {r.name: r.spec for r in deploy.desired(bigger, ACCOUNT, "us-east-1", wheel.name)}
    assert [u["JobName"] for u in updates] == [f"{target.name}-{table}" for table in JOBS]
    for update in updates:  # the whole definition, as UpdateJob resets what it is not sent
        assert update["JobUpdate"] == {k: v for k, v in desired[update["JobName"]].items() if k != "Name"}
        assert update["JobUpdate"]["NumberOfWorkers"] == 5


def test_the_resources_as_the_api_sees_them(target, wheel, landing):
    deploy.deploy(Target(**{**vars(target), "source": str(landing), "worker_type": "G.2X", "workers": 3}), wheel)
    glue, iam, s3 = boto3.client("glue"), boto3.client("iam"), boto3.client("s3")
    bucket, prefix, name, database = target.bucket, target.prefix, target.name, target.database
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/stedi/{name}-glue-us-east-1"
    for table in JOBS:
        job = glue.get_job(JobName=f"{name}-{table}")["Job"]
        assert job["Command"] == {"Name": "glueetl", "PythonVersion": "3",
                                  "ScriptLocation": f"s3://{bucket}/{prefix}/glue/scripts/{table}.py"}
        assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"], job["Role"]) == (
            "5.0", "G.2X", 3, role_arn)
        assert job["DefaultArguments"] == {
            "--additional-python-modules": f"s3://{bucket}/{prefix}/glue/wheels/{wheel.name}",
            "--warehouse": f"s3://{bucket}/{prefix}/lakehouse", "--source": f"s3://{bucket}/{prefix}/landing",
            "--catalog": "glue", "--database": database, "--consent_policy": "any",
            "--job-bookmark-option": "job-bookmark-disable"}
        assert "bookmarks are off" in job["Description"]
        arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{name}-{table}"
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {TAG: target.tag}
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}/glue/wheels/{wheel.name}")["Body"].read() == wheel.read_bytes()
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}/glue/scripts/customer_trusted.py")["Body"].read() == (
        Path(deploy.ROOT, "glue", "customer_trusted.py").read_bytes())
    uploaded = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/landing/")["Contents"]}
    assert uploaded == {f"{prefix}/landing/{p.relative_to(landing)}" for p in landing.glob("*/landing/*.json")}

    # the trigger chain, walked from the on-demand start trigger
    names = glue.list_triggers(Tags={TAG: target.tag})["TriggerNames"]
    triggers = [glue.get_trigger(Name=trigger)["Trigger"] for trigger in names]
    assert {t["WorkflowName"] for t in triggers} == {name}
    start = [t for t in triggers if t["Type"] == "ON_DEMAND"]
    assert len(start) == 1
    order = [start[0]["Actions"][0]["JobName"]]
    while after := [t for t in triggers if t["Type"] == "CONDITIONAL"
                    and t["Predicate"]["Conditions"][0]["JobName"] == order[-1]]:
        assert after[0]["Predicate"]["Conditions"][0]["State"] == "SUCCEEDED" and after[0]["State"] == "ACTIVATED"
        order.append(after[0]["Actions"][0]["JobName"])
    assert order == [f"{name}-{table}" for table in JOBS] and len(triggers) == len(JOBS)

    # the role: Glue may assume it; S3 only under the prefix, Glue only the database, logs only Glue's jobs'
    role = iam.get_role(RoleName=f"{name}-glue-us-east-1")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["stedi"]
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="stedi")["PolicyDocument"]
    granted = {}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert statement["Effect"] == "Allow" and not any("*" in action for action in actions)
        for action in actions:
            granted[action] = (statement["Resource"], statement.get("Condition"))
    glue_arn = f"arn:aws:glue:us-east-1:{ACCOUNT}"
    glue_resources = [f"{glue_arn}:catalog", f"{glue_arn}:database/{database}", f"{glue_arn}:table/{database}/*"]
    logs = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws-glue/jobs/*"
    for action, (resource, condition) in granted.items():
        expected = {
            "s3:GetObject": (f"arn:aws:s3:::{bucket}/{prefix}/*", None),
            "s3:ListBucket": (f"arn:aws:s3:::{bucket}", {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}),
            "s3:GetBucketLocation": (f"arn:aws:s3:::{bucket}", None),
        }.get(action.replace("Put", "Get").replace("Delete", "Get"))
        if action.startswith("glue:"):
            expected = (glue_resources, None)
        elif action.startswith("logs:"):
            expected = ([logs, f"{logs}:log-stream:*"], None)
        assert (resource, condition) == expected, action

    # the landing tables of sql/*.sql and the Athena workgroup
    assert glue.get_database(Name=database)["Database"]["Name"] == database  # stedi's tables: made by the jobs
    table = glue.get_table(DatabaseName=f"{database}_raw", Name="accelerometer_landing")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["user", "timestamp", "x", "y", "z"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/{prefix}/lakehouse/accelerometer/landing/"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    workgroup = boto3.client("athena").get_work_group(WorkGroup=name)["WorkGroup"]
    assert workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/{prefix}/athena/"


def test_destroy_removes_what_deploy_made_and_nothing_else(target, wheel, landing, capsys, monkeypatch):
    bucket = target.bucket
    glue, iam, s3 = boto3.client("glue"), boto3.client("iam"), boto3.client("s3")
    glue.create_job(Name=f"foreign-{bucket}", Role="r", Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"})
    iam.create_role(RoleName=f"foreign-{bucket}"[:64], Path="/stedi/", AssumeRolePolicyDocument="{}",
                    Tags=[{"Key": TAG, "Value": f"s3://{bucket}/someone-else"}])
    s3.put_object(Bucket=bucket, Key=f"{target.prefix}-notes.txt", Body=b"not deploy's")
    s3.put_object(Bucket=bucket, Key=f"{target.prefix}/glue/notes.txt", Body=b"not deploy's either")
    other = Target(**{**vars(target), "prefix": target.prefix + "-other", "database": target.database + "_other"})
    deploy.deploy(other, wheel)  # another deployment, in the same bucket
    before = inventory(bucket)

    assert cli(capsys, "deploy", *options(target, "--source", landing, "--wheel", wheel))[0] == 0
    code, out, _ = cli(capsys, "destroy", "--bucket", bucket, "--prefix", target.prefix)
    assert code == 0 and "the landing data, warehouse and tables stay" in out
    kept = inventory(bucket)
    assert kept.pop("databases") == sorted(before["databases"] + [target.database, target.raw_database])
    assert kept.pop("tables") == sorted(before["tables"] + ["accelerometer_landing", "customer_landing",
                                                            "step_trainer_landing"])
    assert kept.pop("keys") == sorted(before["keys"] + [f"{target.prefix}/landing/{p.relative_to(landing)}"
                                                        for p in landing.glob("*/landing/*.json")])
    assert kept == {kind: names for kind, names in before.items() if kind not in ("databases", "tables", "keys")}

    destroy = ["destroy", "--bucket", bucket, "--prefix", target.prefix, "--delete-data"]
    assert cli(capsys, *destroy)[0] == 1  # no terminal to confirm on, no --yes
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "not-the-bucket")
    assert cli(capsys, *destroy) == (1, "nothing deleted\n", "")
    assert inventory(bucket)["keys"] != before["keys"]
    monkeypatch.setattr("builtins.input", lambda prompt: bucket)
    assert cli(capsys, *destroy)[0] == 0
    assert inventory(bucket) == before  # the bucket stays: deploy did not make it
    assert {s.action for s in deploy.deploy(other, wheel)} == {"unchanged"}  # the other deployment is whole


def test_the_template_passes_cfn_lint_and_holds_the_same_definitions(aws, tmp_path, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)  # writing a template calls no AWS API
    for path in (tmp_path / "stack.yaml", tmp_path / "stack.json"):
        code, out, err = cli(capsys, "deploy", "--bucket", "my-bucket", "--prefix", "dev", "--template", path)
        assert code == 0, err
        lint = subprocess.run([Path(sys.executable).with_name("cfn-lint"), path], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    body = json.loads((tmp_path / "stack.json").read_text())["Resources"]
    jobs = {r["Properties"]["Name"]: r["Properties"] for r in body.values() if r["Type"] == "AWS::Glue::Job"}
    desired = [r for r in deploy.desired(Target("", "my-bucket", "dev"), "${AWS::AccountId}", "${AWS::Region}",
                                         "stedi_lakehouse-0.1.0-py3-none-any.whl") if r.kind == "glue job"]
    assert [r.name for r in desired] == list(jobs)
    for r in desired:
        assert jobs[r.name]["DefaultArguments"] == r.spec["DefaultArguments"]
        assert jobs[r.name]["Role"] == {"Fn::Sub": r.spec["Role"]}
    elsewhere = deploy.desired(Target("", "my-bucket", source="s3://their-bucket/in"), "1", "r", "w.whl")
    assert {r.spec["DefaultArguments"]["--source"] for r in elsewhere if r.kind == "glue job"} == {
        "s3://their-bucket/in"}
    assert sorted(r["Type"] for r in body.values()) == sorted(
        ["AWS::Athena::WorkGroup", "AWS::IAM::Role", "AWS::Glue::Workflow"] + ["AWS::Glue::Database"] * 2
        + ["AWS::Glue::Table"] * 3 + ["AWS::Glue::Job"] * 5 + ["AWS::Glue::Trigger"] * 5)


def test_following_a_workflow_run_reports_jobs_durations_and_the_failure():
    def node(job, *runs):
        return {"Type": "JOB", "Name": job, "JobDetails": {"JobRuns": [
            {"JobRunState": state, "StartedOn": 1, "ExecutionTime": seconds,
             **({"ErrorMessage": error} if error else {})} for state, seconds, error in runs]}}

    answers = iter([
        {"Status": "RUNNING", "Graph": {"Nodes": [node("a", ("RUNNING", 0, None)), node("b")]}},
        {"Status": "RUNNING", "Graph": {"Nodes": [node("a", ("SUCCEEDED", 95, None)),
                                                  node("b", ("RUNNING", 3, None))]}},
        {"Status": "COMPLETED", "Graph": {"Nodes": [node("a", ("SUCCEEDED", 95, None)),
                                                    node("b", ("FAILED", 40, "CheckFailed: email is null"))]}},
    ])

    class Glue:
        def get_workflow_run(self, Name, RunId, IncludeGraph):
            assert (Name, RunId, IncludeGraph) == ("wf", "run-1", True)
            return {"Run": next(answers)}

    lines, sleeps = [], []
    assert deploy.follow(Glue(), "wf", "run-1", lines.append, poll=7, sleep=sleeps.append) is False
    assert lines == ["a: RUNNING", "a: SUCCEEDED after 95s", "b: RUNNING after 3s",
                     "b: FAILED after 40s: CheckFailed: email is null",
                     "workflow run COMPLETED: 1 of 2 jobs succeeded"]
    assert sleeps == [7, 7]


def test_start_starts_the_workflow_on_the_emulator(target, wheel):
    """moto's workflow runs stay RUNNING with no job run: this checks the start and the first poll."""
    deploy.deploy(target, wheel)

    class Stop(Exception):
        pass

    def stop(_):
        raise Stop

    lines = []
    with pytest.raises(Stop):
        deploy.run_workflow(target, lines.append, sleep=stop)
    runs = boto3.client("glue").get_workflow_runs(Name=target.name)["Runs"]
    assert [r["Status"] for r in runs] == ["RUNNING"]
    assert lines == [f"started workflow {target.name}, run {runs[0]['WorkflowRunId']}"]


def test_user_errors_are_one_sentence(aws, target, wheel, capsys, monkeypatch):
    outputs = []

    def fails(says: str):
        code, out, err = cli(capsys, "deploy", *options(target, "--wheel", wheel))
        outputs.append(out + err)
        assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith(f"error: {says}"), err

    glue = boto3.client("glue")
    glue.create_job(Name=f"{target.name}-customer_trusted", Role="r",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://x/y.py"})
    fails(f"the glue job {target.name}-customer_trusted exists and was not made by this deployment")
    with monkeypatch.context() as patch:
        patch.delenv("AWS_DEFAULT_REGION")
        fails("no AWS region given")
    with monkeypatch.context() as patch:
        patch.delenv("AWS_ACCESS_KEY_ID")
        patch.delenv("AWS_SECRET_ACCESS_KEY")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup off this machine
        fails("no AWS credentials found")
    with monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
        patch.setenv("AWS_MAX_ATTEMPTS", "1")
        fails("cannot reach AWS at http://127.0.0.1:9")
    assert not any(aws["AWS_SECRET_ACCESS_KEY"] in text for text in outputs)


@pytest.mark.parametrize("head, says", [
    (403, "the bucket {} belongs to another AWS account, or these credentials may not use it"),
    (404, "the bucket name {} is taken by another AWS account: choose another"),
])
def test_a_bucket_of_another_account_is_one_sentence(aws, wheel, head, says):
    """Another account's bucket, made on the emulator; moto's HeadBucket ignores ExpectedBucketOwner, so
    the hook answers as AWS does (403), or as in a race with its creation (404, then CreateBucket fails)."""
    theirs = f"theirs-{uuid.uuid4().hex[:8]}"
    credentials = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/them",
                                                  RoleSessionName="them")["Credentials"]
    boto3.client("s3", aws_access_key_id=credentials["AccessKeyId"],
                 aws_secret_access_key=credentials["SecretAccessKey"],
                 aws_session_token=credentials["SessionToken"]).create_bucket(Bucket=theirs)
    calls = []
    with pytest.raises(DeployError) as error:
        deploy.deploy(Target("us-east-1", theirs, "dev"), wheel,
                      session=recording(calls, {"HeadBucket": (head, {"Error": {"Code": str(head)}})}))
    assert str(error.value) == says.format(theirs)
    assert writes(calls) == ([] if head == 403 else ["CreateBucket"])


def test_no_permission_is_one_sentence(wheel, capsys, monkeypatch):
    """An emulator of its own that checks IAM: a user allowed S3 only is denied the Glue catalog."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        iam = boto3.client("iam")  # the three unchecked calls: a user allowed S3 only, and its key
        iam.create_user(UserName="s3-only")
        iam.put_user_policy(UserName="s3-only", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="s3-only")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        code, out, err = cli(capsys, "deploy", "--bucket", "denied", "--wheel", wheel)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert code == 1 and err.startswith("error: AWS denied GetDatabase") and err.count("\n") == 1
    assert "lack that permission" in err and key["SecretAccessKey"] not in out + err
