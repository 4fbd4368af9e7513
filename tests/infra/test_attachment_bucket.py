"""What template.yaml declares for attachment files: a private bucket whose lifecycle rule
expires exactly the uploads the S3 store tags as pending, and only the access the store needs."""

from __future__ import annotations

from typing import Any

from chat_core.attachments.blobs import blob_key
from chat_core.attachments.s3_blobs import PENDING_TAG_KEY, PENDING_TAG_VALUE
from tests.dynamodb.test_schema_template import load_template


def bucket() -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"]["AttachmentBucket"]["Properties"]
    return properties


def test_the_bucket_is_private_and_encrypted() -> None:
    properties = bucket()
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    deny = load_template()["Resources"]["AttachmentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny[0]["Effect"] == "Deny" and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_unclaimed_uploads_expire_after_a_day_and_so_do_incomplete_multipart_uploads() -> None:
    rules = {rule["Id"]: rule for rule in bucket()["LifecycleConfiguration"]["Rules"]}
    expire = rules["expire-unclaimed-uploads"]
    assert expire["Status"] == "Enabled" and expire["ExpirationInDays"] == 1
    assert expire["TagFilters"] == [{"Key": PENDING_TAG_KEY, "Value": PENDING_TAG_VALUE}]
    assert "Prefix" not in expire  # claimed files (tag removed) are never matched
    abort = rules["abort-incomplete-multipart-uploads"]
    assert abort["Status"] == "Enabled" and abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_browsers_of_the_allowed_origins_may_post_uploads() -> None:
    (rule,) = bucket()["CorsConfiguration"]["CorsRules"]
    assert "POST" in rule["AllowedMethods"] and "PUT" not in rule["AllowedMethods"]
    origins = rule["AllowedOrigins"]["Fn::Split"][1]["Fn::If"]
    assert origins[0] == "HasCorsOrigins"
    assert origins[1]["Fn::Sub"].startswith("${CorsOrigins},")
    assert "${LoadBalancer.DNSName}" in origins[2]["Fn::Sub"]


def test_the_node_and_the_functions_know_the_bucket_and_only_they_may_use_it() -> None:
    template = load_template()
    resources = template["Resources"]
    ref = {"Ref": "AttachmentBucket"}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["CHAT_ATTACHMENT_BUCKET"] == ref
    container = resources["RealtimeTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {"Name": "CHAT_ATTACHMENT_BUCKET", "Value": ref} in container["Environment"]
    access = {"Ref": "AttachmentAccess"}
    assert access in resources["RealtimeTaskRole"]["Properties"]["ManagedPolicyArns"]
    assert access in resources["HttpApiFunction"]["Properties"]["Policies"]
    # the cleanup only forgets records: the lifecycle rule removes the files
    assert access not in resources["CleanupFunction"]["Properties"]["Policies"]
    objects, listing = resources["AttachmentAccess"]["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(objects["Action"]) == [
        "s3:DeleteObject",
        "s3:DeleteObjectTagging",
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
    ]
    assert objects["Resource"] == {"Fn::Sub": "${AttachmentBucket.Arn}/attachments/*"}
    assert blob_key("g_chat", "a_file").startswith("attachments/")  # every key the store writes
    assert listing["Action"] == "s3:ListBucket" and listing["Resource"] == {"Fn::GetAtt": ["AttachmentBucket", "Arn"]}
