"""What template.yaml declares beyond the table (tests/dynamodb checks the table and runs cfn-lint)."""

from __future__ import annotations

import importlib
from typing import Any

from tests.dynamodb.test_schema_template import load_template


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in load_template()["Resources"].items() if r["Type"] == kind}


def test_functions_point_at_real_handlers_and_stay_in_the_vpc() -> None:
    functions = resources("AWS::Serverless::Function")
    assert {f["Properties"]["Handler"] for f in functions.values()} == {
        "handlers.http_api.handler",
        "handlers.cleanup.handler",
    }
    for function in functions.values():
        module, attribute = function["Properties"]["Handler"].rsplit(".", 1)
        assert importlib.util.find_spec(module) is not None and attribute == "handler"
    globals_ = load_template()["Globals"]["Function"]
    assert globals_["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "FunctionSecurityGroup"}]
    assert functions["CleanupFunction"]["Properties"]["Events"]["EveryMinute"]["Type"] == "Schedule"
    assert functions["HttpApiFunction"]["Properties"]["Events"]["Api"]["Type"] == "HttpApi"


def test_table_access_is_only_the_table_and_its_indexes() -> None:
    policy = load_template()["Resources"]["ChatTableAccess"]["Properties"]["PolicyDocument"]
    for statement in policy["Statement"]:
        assert all(action.startswith("dynamodb:") and "*" not in action for action in statement["Action"])
        assert statement["Resource"] == [{"Fn::GetAtt": ["ChatTable", "Arn"]}, {"Fn::Sub": "${ChatTable.Arn}/index/*"}]


def test_the_jwt_secret_is_never_plain_text() -> None:
    template = load_template()
    container = template["Resources"]["RealtimeTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["Secrets"] == [{"Name": "CHAT_JWT_SECRET", "ValueFrom": {"Ref": "JwtSecretArn"}}]
    assert all(e["Name"] != "CHAT_JWT_SECRET" for e in container["Environment"])
    http = template["Resources"]["HttpApiFunction"]["Properties"]["Environment"]["Variables"]
    assert http == {"CHAT_JWT_SECRET_ARN": {"Ref": "JwtSecretArn"}}


def test_only_the_service_and_the_functions_reach_valkey() -> None:
    ingress = load_template()["Resources"]["ValkeySecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {rule["SourceSecurityGroupId"]["Ref"] for rule in ingress} == {
        "ServiceSecurityGroup",
        "FunctionSecurityGroup",
    }
    assert all("CidrIp" not in rule for rule in ingress)
    cache = resources("AWS::ElastiCache::ServerlessCache")["ValkeyCache"]["Properties"]
    assert cache["Engine"] == "valkey"


def test_load_balancer_keeps_websockets_and_polling_sessions() -> None:
    template = load_template()["Resources"]
    attributes = {a["Key"]: a["Value"] for a in template["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) > 25  # the Engine.IO ping interval
    group = template["RealtimeTargetGroup"]["Properties"]
    sticky = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert sticky["stickiness.enabled"] == "true" and group["HealthCheckPath"] == "/healthz"
    assert template["RealtimeService"]["Properties"]["LaunchType"] == "FARGATE"


def test_every_log_group_has_a_retention() -> None:
    groups = resources("AWS::Logs::LogGroup")
    assert len(groups) == 3
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())


def test_behind_the_load_balancer_forwarded_headers_count_and_metrics_stay_inside() -> None:
    template = load_template()["Resources"]
    container = template["RealtimeTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in container["Environment"] if isinstance(e.get("Value"), str)}
    assert env["CHAT_TRUSTED_PROXIES"] == "*" and env["CHAT_METRICS_PORT"] == "9464"
    # trusting every peer is sound only because the load balancer is the only one
    ingress = template["ServiceSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 3001,
            "ToPort": 3001,
            "SourceSecurityGroupId": {"Ref": "LoadBalancerSecurityGroup"},
            "Description": "from the load balancer only",
        }
    ]
    target_group = template["RealtimeTargetGroup"]["Properties"]
    assert target_group["Port"] == 3001


def test_the_service_scales_on_the_connections_its_tasks_report() -> None:
    from chat_core.realtime.emf import METRIC_CONNECTIONS, connections_record

    template = load_template()["Resources"]
    container = template["RealtimeTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    service_name = next(e["Value"] for e in container["Environment"] if e["Name"] == "CHAT_EMF_SERVICE")
    policy = template["RealtimeScaleOnConnections"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    metric = policy["CustomizedMetricSpecification"]
    assert metric["Dimensions"] == [{"Name": "Service", "Value": service_name}]
    assert metric["Statistic"] == "Average" and policy["TargetValue"] == {"Ref": "ConnectionsPerTask"}
    # what a task writes is what the policy reads
    record = connections_record(metric["Namespace"], "svc", 42)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == metric["Namespace"] and directive["Dimensions"] == [["Service"]]
    assert [m["Name"] for m in directive["Metrics"]] == [metric["MetricName"]] == [METRIC_CONNECTIONS]
    assert record["Service"] == "svc" and record[METRIC_CONNECTIONS] == 42
    target = template["RealtimeScalingTarget"]["Properties"]
    assert target["MinCapacity"] == {"Ref": "DesiredCount"} and target["MaxCapacity"] == {"Ref": "MaxCount"}
    cpu = template["RealtimeScaleOnCpu"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert cpu["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
