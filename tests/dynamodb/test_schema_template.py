"""template.yaml's ChatTable and dynamodb_schema.py describe the same table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_core.stores import dynamodb_schema as schema

pytestmark = pytest.mark.dynamodb

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short forms (!Ref, !Sub, !GetAtt ...) as Fn:: maps."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    return loaded


def _by_name(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["AttributeName"]: e for e in entries}


def test_template_is_sam_with_the_chat_table() -> None:
    template = load_template()
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    table = template["Resources"]["ChatTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["Properties"]["BillingMode"] == schema.BILLING_MODE == "PAY_PER_REQUEST"
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert template["Outputs"]["ChatTableName"]["Value"] == {"Ref": "ChatTable"}


def test_template_table_agrees_with_schema() -> None:
    props = load_template()["Resources"]["ChatTable"]["Properties"]
    definition = schema.table_definition("any")
    assert _by_name(props["AttributeDefinitions"]) == _by_name(definition["AttributeDefinitions"])
    assert props["KeySchema"] == definition["KeySchema"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert definition["SSESpecification"] == {"Enabled": props["SSESpecification"]["SSEEnabled"]}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        template_indexes = {g["IndexName"]: g for g in props[kind]}
        schema_indexes = {g["IndexName"]: g for g in definition[kind]}
        assert template_indexes == schema_indexes, kind
    lsi1 = {i["IndexName"]: i for i in definition["LocalSecondaryIndexes"]}[schema.LSI1]
    # a local index shares the table's partition key
    assert lsi1["KeySchema"][0] == {"AttributeName": schema.PK, "KeyType": "HASH"}
    assert lsi1["KeySchema"][1] == {"AttributeName": schema.LSI1_SK, "KeyType": "RANGE"}
    used = {k["AttributeName"] for k in props["KeySchema"]} | {
        k["AttributeName"]
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for g in props[kind]
        for k in g["KeySchema"]
    }
    assert used == set(_by_name(props["AttributeDefinitions"]))


def test_create_table_builds_that_table(aws: Any) -> None:
    described = aws.describe_table(TableName="chat-test")["Table"]
    definition = schema.table_definition("chat-test")
    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == definition["KeySchema"]
    assert _by_name(described["AttributeDefinitions"]) == _by_name(definition["AttributeDefinitions"])
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in described[kind]}
        assert indexes == {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in definition[kind]}, kind
    ttl = aws.describe_time_to_live(TableName="chat-test")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": schema.TTL_ATTRIBUTE}
    backups = aws.describe_continuous_backups(TableName="chat-test")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_cfn_lint_is_clean() -> None:
    linted = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
