"""The deployment template (deploy/aws/template.yaml): valid for cfn-lint as written and as SAM transforms it; the
pieces wired as docs/AWS.md says (queue, dead-letter queue, event source, alarms, the image, the environment); and
its IAM role checked against the AWS calls the function really makes.

The IAM check runs the Lambda handler end to end, in each configuration the template deploys (bundled models or
Rekognition, thumbnails on or off), with the environment the template gives the function: images in a SeaweedFS
bucket, the catalog in moto's DynamoDB, Rekognition answered by botocore's Stubber. Every call botocore makes is
recorded (tests/awscalls.py) and mapped to the IAM action and resource AWS authorises it by; the role the template
grants in that configuration must allow each of them, and every grant must be used by some call (or be one Lambda
makes for the function: its logs, the queue's polling). Nothing missing, nothing extra."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.stub import Stubber
from cfnlint.api import ManualArgs, lint_file
from samtranslator.translator.transform import transform

from awscalls import CallRecorder, permissions
from awsserver import AwsServer
from cfn import ACCOUNT, Deployment, load_template
from conftest import SAMPLES
from pixlens.analysis import rekognition
from pixlens.analysis.rekognition import REKOGNITION_ACTIONS, Rekognition
from pixlens.aws import lambda_handler
from pixlens.catalog.dynamodb_schema import table_definition
from pixlens.config import KNOWN_ANALYZERS, load_settings
from pixlens.record import Status
from pixlens.store.urls import parse_bucket_url
from s3server import S3Server, aws_environment
from test_lambda_handler import Context, s3_event, s3_record, sqs_batch, sqs_message
from test_lambda_image import DOCKERFILE
from test_rekognition import FACES_RESPONSE, MODERATION_RESPONSE, PROPERTIES_RESPONSE, TEXT_RESPONSE, labels_response

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "aws" / "template.yaml"
REGION = "us-east-1"
PREFIX = "photos"
TABLE = "pixlens-catalog"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:pixlens-EventQueue-1A2B3C"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:pixlens-DeadLetterQueue-4D5E6F"
LOG_GROUP = "/aws/lambda/pixlens-analysis"
FUNCTION = "pixlens-AnalysisFunction-7G8H9I"
LOG_STREAM = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:log-stream:2026/12/07/[$LATEST]a1b2"

# What Lambda does with the function's role for it, not the function's code (so no botocore call of the code shows
# them): the SQS event source mapping polls the queue and deletes what the function finished (AWS Lambda developer
# guide, "Using Lambda with Amazon SQS": the execution role needs these three), and Lambda writes the function's
# output to its log group (the "AWSLambdaBasicExecutionRole" actions, on the one group). CreateLogGroup is not
# needed: the template creates the group.
PLATFORM = {
    ("sqs:ReceiveMessage", QUEUE_ARN),
    ("sqs:DeleteMessage", QUEUE_ARN),
    ("sqs:GetQueueAttributes", QUEUE_ARN),
    ("logs:CreateLogStream", LOG_STREAM),
    ("logs:PutLogEvents", LOG_STREAM),
}


def deployment(bucket: str = "pixlens-photos-example", **given: str) -> Deployment:
    """The stack with the parameters ``given`` (the others their defaults), its resources named as in a test."""
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    return Deployment(
        load_template(TEMPLATE),
        given={"BucketName": bucket, "ImagePrefix": PREFIX, **given},
        names={
            "ImageBucket": bucket,
            "CatalogTable": TABLE,
            "EventQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pixlens-EventQueue-1A2B3C",
            "DeadLetterQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pixlens-DeadLetterQueue-4D5E6F",
            "FunctionLogGroup": LOG_GROUP,
            "AnalysisFunction": FUNCTION,
            "AlarmTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:pixlens-AlarmTopic",
        },
        attributes={
            "CatalogTable.Arn": table_arn,
            "EventQueue.Arn": QUEUE_ARN,
            "DeadLetterQueue.Arn": DLQ_ARN,
            "DeadLetterQueue.QueueName": DLQ_ARN.rsplit(":", 1)[1],
            "FunctionLogGroup.Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*",
            "FunctionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/pixlens-FunctionRole",
            "AnalysisFunction.Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}",
        },
        region=REGION,
    )


def grants(stack: Deployment) -> list[tuple[str, str]]:
    """(action, resource pattern) of every Allow statement of the function's role."""
    role = stack.resource("FunctionRole")["Properties"]
    assert "ManagedPolicyArns" not in role, "managed policies grant what the template cannot see"
    found = []
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found += [(action, resource) for action in actions for resource in resources]
    return found


def allows(grant: tuple[str, str], needed: tuple[str, str]) -> bool:
    """Whether a granted (action, resource pattern) covers a needed (action, ARN), as IAM matches ARNs ('*')."""
    return grant[0] == needed[0] and fnmatch.fnmatchcase(needed[1], grant[1].replace("[", "[[]"))


# -- the template is valid ----------------------------------------------------------------------------------------
def lint(path: Path) -> list[str]:
    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    return [f"{match.rule.id} {match.message} ({match.linenumber})" for match in matches]


def sam_transformed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ours, with the ImageUri `sam build` sets."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    template = load_template(TEMPLATE)
    template["Resources"]["AnalysisFunction"]["Properties"]["ImageUri"] = "analysisfunction:pixlens-lambda"

    class NoManagedPolicies:  # asked only when a function names managed policies: ours names none
        def load(self) -> dict[str, str]:
            raise AssertionError("the template asks SAM for a managed policy")

    made: dict[str, Any] = transform(template, {}, NoManagedPolicies())
    return made


def test_cfn_lint_finds_nothing_in_the_template_as_written() -> None:
    assert lint(TEMPLATE) == []


def test_cfn_lint_finds_nothing_in_what_sam_makes_of_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """SAM's own resources are checked shallowly as written; their CloudFormation is checked to the last property.
    The transform also shows that SAM adds no role and no policy of its own."""
    made = sam_transformed(monkeypatch)
    types = sorted(resource["Type"] for resource in made["Resources"].values())
    assert types.count("AWS::IAM::Role") == 1 and "AWS::IAM::Policy" not in types
    assert "AWS::IAM::ManagedPolicy" not in types
    assert made["Resources"]["AnalysisFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    path = tmp_path / "transformed.json"
    path.write_text(json.dumps(made), encoding="utf-8")
    assert lint(path) == []


# -- the pieces ---------------------------------------------------------------------------------------------------
def test_the_queue_hides_a_batch_six_times_the_functions_timeout() -> None:
    """AWS's advice for an SQS event source, for every timeout the template allows."""
    timeouts = load_template(TEMPLATE)["Parameters"]["FunctionTimeout"]["AllowedValues"]
    assert timeouts
    for timeout in timeouts:
        stack = deployment(FunctionTimeout=str(timeout))
        visibility = stack.resource("EventQueue")["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * int(timeout)
        assert stack.resource("AnalysisFunction")["Properties"]["Timeout"] == str(timeout)


def test_failed_messages_are_redelivered_then_kept_in_the_dead_letter_queue() -> None:
    stack = deployment(MaxReceiveCount="3", BatchSize="7", ReservedConcurrency="4")
    redrive = stack.resource("EventQueue")["Properties"]["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": "3"}
    assert stack.resource("DeadLetterQueue")["Properties"]["MessageRetentionPeriod"] == 1209600
    function = stack.resource("AnalysisFunction")["Properties"]
    (source,) = function["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == QUEUE_ARN
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # else batches are lost
    assert source["Properties"]["BatchSize"] == "7"
    # the event source never asks for more containers than are reserved: no batch throttled back to the queue
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] == function["ReservedConcurrentExecutions"]
    assert function["ReservedConcurrentExecutions"] == "4"


def test_the_bucket_sends_new_and_removed_objects_under_the_prefix_to_the_queue() -> None:
    stack = deployment()
    bucket = stack.resource("ImageBucket")
    assert "EventQueuePolicy" in [bucket["DependsOn"]]  # S3 checks it may send when the notification is set
    notifications = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert sorted(item["Event"] for item in notifications) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    for item in notifications:
        assert item["Queue"] == QUEUE_ARN
        assert item["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": f"{PREFIX}/"}]}}
    (statement,) = stack.resource("EventQueuePolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == QUEUE_ARN
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == "arn:aws:s3:::pixlens-photos-example"
    whole = deployment(ImagePrefix="").resource("ImageBucket")["Properties"]["NotificationConfiguration"]
    assert all("Filter" not in item for item in whole["QueueConfigurations"])


def test_alarms_on_function_errors_and_dead_letters_mail_only_when_asked() -> None:
    for email, actions in (("", None), ("ops@example.com", [f"arn:aws:sns:{REGION}:{ACCOUNT}:pixlens-AlarmTopic"])):
        stack = deployment(AlarmEmail=email)
        errors = stack.resource("FunctionErrorsAlarm")["Properties"]
        assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
        assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": FUNCTION}]
        dead = stack.resource("DeadLetterAlarm")["Properties"]
        assert (dead["Namespace"], dead["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert dead["Dimensions"] == [{"Name": "QueueName", "Value": DLQ_ARN.rsplit(":", 1)[1]}]
        for alarm in (errors, dead):
            assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
            assert alarm.get("AlarmActions") == actions
        assert ("AlarmTopic" in stack.resources()) is bool(email)
    topic = deployment(AlarmEmail="ops@example.com").resource("AlarmTopic")["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": "ops@example.com"}]


def test_sam_build_makes_the_image_the_dockerfile_test_checks() -> None:
    function = load_template(TEMPLATE)["Resources"]["AnalysisFunction"]
    assert function["Properties"]["PackageType"] == "Image"
    assert "ImageUri" not in function["Properties"]  # `sam build` sets it to the image it builds
    context = (TEMPLATE.parent / function["Metadata"]["DockerContext"]).resolve()
    assert context == ROOT  # the Dockerfile's build context is the repository root
    assert (context / function["Metadata"]["Dockerfile"]).resolve() == DOCKERFILE.resolve()


def test_the_functions_environment_is_settings_pixlens_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for backend, thumbnails in (("bundled", "false"), ("rekognition", "true")):
        stack = deployment(AnalysisBackend=backend, Thumbnails=thumbnails, Analyzers="labels,text")
        variables = stack.resource("AnalysisFunction")["Properties"]["Environment"]["Variables"]
        assert variables["PIXLENS_STORE"] == f"s3://pixlens-photos-example/{PREFIX}"
        assert variables["PIXLENS_CATALOG"] == f"dynamodb://{TABLE}?region={REGION}"
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(tmp_path)
        assert settings.analysis.backend == backend
        assert settings.analyzers == ["labels", "text"] + (["thumbnail"] if thumbnails == "true" else [])
        assert settings.thumbnails.location == "store"
        assert parse_bucket_url(settings.store).prefix == PREFIX
    default = deployment().resource("AnalysisFunction")["Properties"]["Environment"]["Variables"]
    assert json.loads(default["PIXLENS_ANALYZERS"]) == [name for name in KNOWN_ANALYZERS if name != "thumbnail"]
    whole = deployment(ImagePrefix="").resource("AnalysisFunction")["Properties"]["Environment"]["Variables"]
    assert whole["PIXLENS_STORE"] == "s3://pixlens-photos-example"


def test_the_table_is_the_one_pixlens_init_creates() -> None:
    """The catalog's own definition (what `pixlens init` creates), property by property, with point-in-time
    recovery on."""
    table = deployment().resource("CatalogTable")
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = dict(table["Properties"])
    assert properties.pop("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}
    expected = table_definition(TABLE)
    del expected["TableName"]  # CloudFormation names it: the function is told the name (PIXLENS_CATALOG)
    assert properties == expected


def test_iam_actions_are_named_never_wildcards_and_star_only_for_rekognition() -> None:
    stack = deployment(AnalysisBackend="rekognition", Thumbnails="true")
    for action, resource in grants(stack):
        assert "*" not in action, action
        if resource == "*":
            assert action in REKOGNITION_ACTIONS, f"{action} on every resource"
    assert {action for action, _ in grants(stack) if action.startswith("rekognition:")} == set(REKOGNITION_ACTIONS)
    assert not [grant for grant in grants(deployment()) if grant[0].startswith("rekognition:")]
    writes = {"s3:PutObject", "s3:DeleteObject"}
    assert not [grant for grant in grants(deployment()) if grant[0] in writes]  # thumbnails off: read only
    for action, resource in grants(stack):
        if action in writes:
            assert resource == f"arn:aws:s3:::pixlens-photos-example/{PREFIX}/.pixlens-thumbnails/*"


# -- the IAM check: the calls the function makes against what the role grants ----------------------------------------
def rekognition_response(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    if operation == "DetectLabels":
        return PROPERTIES_RESPONSE if params.get("Features") == ["IMAGE_PROPERTIES"] else labels_response()
    answers = {"DetectText": TEXT_RESPONSE, "DetectFaces": FACES_RESPONSE}
    return answers.get(operation, MODERATION_RESPONSE)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    with CallRecorder().installed(monkeypatch) as installed:
        yield installed


@pytest.fixture
def stubbed_rekognition(monkeypatch: pytest.MonkeyPatch, recorder: CallRecorder) -> Iterator[Stubber]:
    """The Rekognition client the function's analysers share, answered by a Stubber (responses validated against
    botocore's model) with the answer of each operation, queued as the call is made."""
    client = boto3.client("rekognition", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)

    def answer(params: dict[str, Any], model: Any, **_: Any) -> None:
        stubber.add_response(xform_name(model.name), rekognition_response(model.name, params))

    client.meta.events.register("provide-client-params.rekognition.*", answer)  # before the Stubber looks for it
    monkeypatch.setattr(rekognition, "make_client", lambda options: client)
    monkeypatch.setattr(Rekognition, "_shared", {})
    with stubber:
        yield stubber


def run_function(
    stack: Deployment,
    s3_server: S3Server,
    bucket: str,
    home: Path,
    recorder: CallRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The function as the stack configures it, through its life: the init phase, new images, a duplicate event,
    an event for an object that is gone, an image replaced, an image removed."""
    variables = stack.resource("AnalysisFunction")["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIXLENS_HOME", str(home))
    monkeypatch.setenv("PIXLENS_S3__ENDPOINT_URL", s3_server.endpoint)
    # the calls made are the same one at a time; a Stubber answers in the order calls are made
    monkeypatch.setenv("PIXLENS_PARALLEL_ANALYZERS", "1")
    monkeypatch.setenv("PIXLENS_REKOGNITION__CONCURRENT_CALLS", "1")
    monkeypatch.setenv("PIXLENS_REKOGNITION__REGION", REGION)
    credentials = {name.lower(): value for name, value in aws_environment().items()}
    uploads = recorder.ignore(boto3.client("s3", endpoint_url=s3_server.endpoint, region_name=REGION, **credentials))

    def put(name: str, sample: str) -> None:
        uploads.put_object(Bucket=bucket, Key=f"{PREFIX}/{name}", Body=(SAMPLES / sample).read_bytes())

    def deliver(name: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
        batch = sqs_batch(sqs_message(s3_event(s3_record(bucket, f"{PREFIX}/{name}", event))))
        return lambda_handler.handler(batch, Context())

    create_table(stack, recorder)
    put("dog.jpg", "000000000072.jpg")
    put("face.png", "astronaut.png")  # a face: the people's items too
    lambda_handler.reset()
    try:
        lambda_handler.app()  # the init phase: models, the store's client, the catalog opened
        batch = sqs_batch(*(sqs_message(s3_event(s3_record(bucket, f"{PREFIX}/{n}"))) for n in ("dog.jpg", "face.png")))
        assert lambda_handler.handler(batch, Context()) == {"batchItemFailures": []}
        assert deliver("dog.jpg") == {"batchItemFailures": []}  # a duplicate: unchanged
        assert deliver("never-there.jpg") == {"batchItemFailures": []}  # absent: the bucket is asked too
        put("dog.jpg", "rocket.jpg")
        assert deliver("dog.jpg") == {"batchItemFailures": []}  # analysed again: an old thumbnail goes
        uploads.delete_object(Bucket=bucket, Key=f"{PREFIX}/face.png")
        assert deliver("face.png", "ObjectRemoved:Delete") == {"batchItemFailures": []}
        lens = lambda_handler.app().lens
        assert lens.catalog.get("face.png") is None
        record = lens.catalog.get("dog.jpg")
        assert record is not None
        assert record.Status is Status.ANALYZED, record.Error
    finally:
        lambda_handler.reset()


def create_table(stack: Deployment, recorder: CallRecorder) -> None:
    """The catalog's table as the template declares it, in the local DynamoDB (what CloudFormation would create)."""
    table = stack.resource("CatalogTable")["Properties"]
    client = recorder.ignore(boto3.client("dynamodb", region_name=REGION))
    declared = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    client.create_table(TableName=TABLE, **{name: table[name] for name in declared})


CONFIGURATIONS = [
    pytest.param("bundled", "false", id="bundled"),
    pytest.param("bundled", "true", id="bundled-thumbnails"),
    pytest.param("rekognition", "false", id="rekognition"),
    pytest.param("rekognition", "true", id="rekognition-thumbnails"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "thumbnails"), CONFIGURATIONS)
def test_the_role_grants_exactly_what_the_function_calls(
    backend: str,
    thumbnails: str,
    aws: AwsServer,
    s3_server: S3Server,
    s3_bucket: str,
    recorder: CallRecorder,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if backend == "rekognition":
        request.getfixturevalue("stubbed_rekognition")
    for name in [name for name in os.environ if name.startswith("PIXLENS_")]:
        monkeypatch.delenv(name)
    # the images in SeaweedFS (PIXLENS_S3__ENDPOINT_URL, its credentials: s3_bucket), DynamoDB on moto's server
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    stack = deployment(bucket=s3_bucket, AnalysisBackend=backend, Thumbnails=thumbnails)
    with recorder.recording():
        run_function(stack, s3_server, s3_bucket, tmp_path / "home", recorder, monkeypatch)

    needed = {pair for call in recorder.calls for pair in permissions(call, REGION, ACCOUNT)} | PLATFORM
    granted = grants(stack)
    missing = sorted(pair for pair in needed if not any(allows(grant, pair) for grant in granted))
    unused = sorted(grant for grant in granted if not any(allows(grant, pair) for pair in needed))
    assert missing == [], f"the function would be denied: {missing}"
    assert unused == [], f"granted, never used: {unused}"
    made = {f"{call.service}:{call.operation}" for call in recorder.calls}
    assert {"s3:HeadObject", "s3:GetObject", "s3:HeadBucket"} <= made
    assert {"dynamodb:DescribeTable", "dynamodb:TransactWriteItems", "dynamodb:Query"} <= made  # the table's catalog
    assert ("s3:PutObject" in made) is (thumbnails == "true")
    detected = {call.operation for call in recorder.calls if call.service == "rekognition"}
    assert detected == (
        {"DetectLabels", "DetectText", "DetectFaces", "DetectModerationLabels"} if backend == "rekognition" else set()
    )
