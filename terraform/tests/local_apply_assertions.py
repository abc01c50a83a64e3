"""Assertions on a stack applied to the local AWS emulator.

Run by scripts/terraform-apply-local-test.sh after `terraform apply`: reads the
root outputs and the state and asks the emulator, through boto3, whether what was
created is what the modules promise. Scope "main" (the whole root): the delivery
stream reads the click stream, calls the deployed transform Lambda and writes time
partitions registered as a Glue table, delivered objects notify the publisher through
a queue with a dead-letter queue, buckets are encrypted and private, functions carry
their RECO_* configuration, the storefront distribution serves the uploaded page and
the latest documents through origin access control, the vector database is
encrypted, private and TLS-only, the daily loop's state machine runs the rendered
definition (every transition names a state, ScoreAll is a Distributed Map, every Task
retries with full jitter and is caught) from one schedule, the notifications topic is
KMS-encrypted and every alarm tells it, the dashboard names the metrics. Scope "source-db": the created source
MySQL and its connection secret, and that the generated password is nowhere in the
state. Prints one line per check and a closing 'N passed, N failed' line; exits
non-zero on any failure.
"""

import argparse
import json
import os
import re
import sys
import traceback

import boto3

EXPECTED_OUTPUTS = [
    "data_lake_bucket", "artifacts_bucket", "recommendations_bucket", "glue_database",
    "glue_table", "click_stream_name", "delivery_stream_name", "transform_function_name",
    "pg_endpoint", "pg_port", "pg_secret_arn", "mysql_secret_arn", "delivered_log_table",
    "publisher_function_name", "latest_prefix", "storefront_url", "site_bucket", "distribution_id",
    "state_machine_arn", "notifications_topic_arn", "dashboard_name", "load_embeddings_function_name",
    "score_all_function_name", "pg_reader_secret_arn", "pg_loader_secret_arn", "db_migrate_function_name",
]

# The EMF metrics of the contract (namespace reco, dimension Service) the dashboard shows.
EMF_METRICS = {
    "transform": ["RecordsOk", "RecordsFailed", "RecordsDropped", "ResponseFull", "BatchRecords", "KnnMilliseconds"],
    "publisher": ["DocumentsPublished", "DocumentsKept", "FreshnessSeconds"],
    "etl": ["RowsExtracted", "RowsRejected", "EtlSeconds", "EventsRead", "EventRowsWritten"],
    "train": ["TrainingSeconds", "NdcgAt10", "PopularityNdcgAt10", "ModelAccepted"],
    "score-all": ["DocumentsPublished", "DocumentsKept", "CustomersScored", "ShardSeconds"],
    "load-embeddings": ["ItemsLoaded", "UsersLoaded", "LoadSeconds"],
}

# What modules/pipeline passes the state machine's template by default.
SFN_NUMBERS = {"score_max_concurrency": "10", "customers_per_shard": "100000", "max_shards": "1000"}

# Content types the storefront module gives page files, by extension.
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed += 1
            detail = str(exc) or type(exc).__name__
            print(f"FAIL {name}: {detail}")
            if os.environ.get("RECO_ASSERT_TRACE"):
                traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scope", choices=["main", "source-db"], default="main")
    ap.add_argument("--outputs", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--raw-state", required=True)
    ap.add_argument("--name-prefix", required=True)
    ap.add_argument("--web-dir", help="folder of the storefront page files the stack uploaded")
    ap.add_argument("--asl-template", help="the state machine's template (terraform/modules/pipeline)")
    args = ap.parse_args()

    outputs = {k: v["value"] for k, v in json.load(open(args.outputs)).items()}
    prefix = args.name_prefix
    session = boto3.session.Session()
    endpoint = os.environ["AWS_ENDPOINT_URL"]

    def client(service):
        return session.client(service, endpoint_url=endpoint)

    s3, firehose, kinesis = client("s3"), client("firehose"), client("kinesis")
    lam, rds, glue = client("lambda"), client("rds"), client("glue")
    events, cw, iam = client("events"), client("cloudwatch"), client("iam")
    secrets, ec2, logs = client("secretsmanager"), client("ec2"), client("logs")
    sqs, cloudfront, kms = client("sqs"), client("cloudfront"), client("kms")
    sfn, sns = client("stepfunctions"), client("sns")

    key_arn = outputs.get("kms_key_arn")
    checks = Checks()
    if args.scope == "main":
        main_checks(**locals())
    else:
        source_db_checks(**locals())
    print(f"apply-test: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def main_checks(checks, outputs, prefix, client, key_arn, args, s3, firehose, kinesis, lam, rds, glue, events, cw, iam, secrets, ec2, logs,
                sqs, cloudfront, kms, sfn, sns, **_):
    """The whole root: buckets, streaming, publisher, storefront, functions, catalog, vector database, IAM, alarms."""

    def outputs_present():
        missing = [k for k in EXPECTED_OUTPUTS if outputs.get(k) in (None, "")]
        expect(not missing, f"missing outputs: {missing}")

    checks.run("root outputs are all set", outputs_present)

    # --- buckets ---
    # The site bucket has only the bucket-wide rule (noncurrent versions, uploads).
    min_rules = {"data_lake_bucket": 2, "artifacts_bucket": 2, "recommendations_bucket": 2, "site_bucket": 1}
    for out in ("data_lake_bucket", "artifacts_bucket", "recommendations_bucket", "site_bucket"):
        bucket = outputs[out]

        def encrypted(bucket=bucket):
            rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
            default = rule["ApplyServerSideEncryptionByDefault"]
            expect(default["SSEAlgorithm"] == "aws:kms", f"SSE is {default['SSEAlgorithm']}")
            expect(default.get("KMSMasterKeyID") == key_arn, f"SSE key is {default.get('KMSMasterKeyID')}")

        def private(bucket=bucket):
            pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            expect(all(pab[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")), f"public access block {pab}")

        def versioned(bucket=bucket):
            expect(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", "versioning not enabled")

        def tls_only(bucket=bucket):
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            expect(any(
                st["Effect"] == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for st in policy["Statement"]
            ), "no deny on aws:SecureTransport=false")

        def lifecycle(bucket=bucket, want=min_rules[out]):
            rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
            expect(any("AbortIncompleteMultipartUpload" in r for r in rules), "no incomplete-upload rule")
            expect(len(rules) >= want, f"only {len(rules)} lifecycle rule(s)")

        kinds = [("KMS-encrypted", encrypted), ("private", private), ("versioned", versioned), ("TLS-only", tls_only),
                 ("has lifecycle rules", lifecycle)]
        if out == "site_bucket":
            # The apply test turns the deny off for the site bucket alone (moto would refuse
            # Terraform's reads of its objects); the s3-bucket module test asserts the deny.
            kinds = [k for k in kinds if k[0] != "TLS-only"]
        for label, fn in kinds:
            checks.run(f"bucket {out} is {label}" if label != "has lifecycle rules" else f"bucket {out} has lifecycle rules", fn)

    # --- streaming ---
    stream_name = outputs["click_stream_name"]
    summary = {}

    def stream_encrypted():
        summary.update(kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"])
        expect(summary.get("EncryptionType") == "KMS", f"encryption {summary.get('EncryptionType')}")
        expect(summary.get("KeyId") == key_arn, f"stream key {summary.get('KeyId')}")

    checks.run("click stream is KMS-encrypted", stream_encrypted)

    transform = lam.get_function(FunctionName=outputs["transform_function_name"])
    transform_arn = transform["Configuration"]["FunctionArn"]
    delivery = firehose.describe_delivery_stream(DeliveryStreamName=outputs["delivery_stream_name"])["DeliveryStreamDescription"]
    dest = delivery["Destinations"][0]["ExtendedS3DestinationDescription"]

    def source_is_click_stream():
        source = delivery["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]
        expect(source == summary.get("StreamARN"), f"source {source} is not {summary.get('StreamARN')}")

    def processor_is_transform():
        proc = dest["ProcessingConfiguration"]
        expect(proc["Enabled"] is True, "processing disabled")
        params = {p["ParameterName"]: p["ParameterValue"] for p in proc["Processors"][0]["Parameters"]}
        expect(proc["Processors"][0]["Type"] == "Lambda", "processor is not Lambda")
        lambda_arn = params["LambdaArn"]
        expect(lambda_arn in (transform_arn, f"{transform_arn}:$LATEST"), f"processor {lambda_arn} is not {transform_arn}")
        expect(float(params["BufferSizeInMBs"]) == 3, f"processor buffer {params['BufferSizeInMBs']} MB, not Firehose's maximum 3")
        env = transform["Configuration"].get("Environment", {}).get("Variables", {})
        expect(env.get("RECO_RECORD_GZIP") == "true", f"RECO_RECORD_GZIP={env.get('RECO_RECORD_GZIP')}: the transform must gzip each record")
        expect(env.get("RECO_PARTITION_KEYS") == "false", f"RECO_PARTITION_KEYS={env.get('RECO_PARTITION_KEYS')}: no dynamic partitioning")

    def delivers_time_partitions():
        expect(dest["BucketARN"] == f"arn:aws:s3:::{outputs['recommendations_bucket']}", f"bucket {dest['BucketARN']}")
        expect(dest["Prefix"] == "recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/", f"prefix {dest['Prefix']}")
        expect("partitionKeyFrom" not in dest["Prefix"], f"prefix {dest['Prefix']} partitions by record content")
        expect(dest["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/"), f"error prefix {dest['ErrorOutputPrefix']}")
        dynamic = dest.get("DynamicPartitioningConfiguration") or {}
        expect(not dynamic.get("Enabled", False), f"dynamic partitioning {dynamic}")
        # The transform gzips each record; Firehose stores them as they are (never twice).
        expect(dest["CompressionFormat"] == "UNCOMPRESSED", f"compression {dest['CompressionFormat']}")
        expect(dest.get("FileExtension") == ".ndjson.gz", f"file extension {dest.get('FileExtension')}")

    def delivery_logs():
        opts = dest["CloudWatchLoggingOptions"]
        expect(opts["Enabled"] is True, "logging disabled")
        groups = logs.describe_log_groups(logGroupNamePrefix=opts["LogGroupName"])["logGroups"]
        expect(any(g["logGroupName"] == opts["LogGroupName"] for g in groups), f"log group {opts['LogGroupName']} missing")

    checks.run("delivery stream reads the click stream", source_is_click_stream)
    checks.run("delivery stream's processor is the deployed transform Lambda", processor_is_transform)
    checks.run("delivery stream writes time partitions only (no dynamic partitioning), errors apart", delivers_time_partitions)
    checks.run("delivery stream logs to an existing log group", delivery_logs)

    def delivered_log_table():
        table = glue.get_table(DatabaseName=outputs["glue_database"], Name=outputs["delivered_log_table"])["Table"]
        sd = table["StorageDescriptor"]
        location = f"s3://{outputs['recommendations_bucket']}/recommendations/"
        expect(sd["Location"] == location, f"location {sd['Location']}")
        keys = [(k["Name"], k["Type"]) for k in table["PartitionKeys"]]
        expect(keys == [("dt", "string"), ("hour", "string")], f"partition keys {keys}")
        params = table.get("Parameters", {})
        want = {
            "projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
            "projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2",
            "storage.location.template": location + "dt=${dt}/hour=${hour}/",
        }
        wrong = {k: (params.get(k), v) for k, v in want.items() if params.get(k) != v}
        expect(not wrong, f"projection parameters (got, want): {wrong}")
        expect(params.get("projection.dt.range", "").endswith(",NOW"), f"dt range {params.get('projection.dt.range')}")
        expect(sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe", f"serde {sd['SerdeInfo']}")
        expect(sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat", f"input format {sd['InputFormat']}")
        columns = {c["Name"]: c["Type"] for c in sd["Columns"]}
        expect(columns.get("customer_number") == "bigint" and columns.get("recommended_items") == "array<struct<id:string,score:float>>"
               and "recommendation_id" in columns and "city" not in columns, f"columns {columns}")

    checks.run("delivered log is a Glue table partitioned by dt and hour, by partition projection", delivered_log_table)

    # --- raw events in the data lake (modules/streaming-inference/events_lake.tf) ---
    def events_delivery_stream():
        events = firehose.describe_delivery_stream(DeliveryStreamName=f"{prefix}-events")["DeliveryStreamDescription"]
        source = events["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]
        expect(source == summary.get("StreamARN"), f"events source {source} is not {summary.get('StreamARN')}")
        d = events["Destinations"][0]["ExtendedS3DestinationDescription"]
        expect(d["BucketARN"] == f"arn:aws:s3:::{outputs['data_lake_bucket']}", f"events bucket {d['BucketARN']}")
        expect(d["Prefix"] == "events/dt=!{timestamp:yyyy-MM-dd}/", f"events prefix {d['Prefix']}")
        expect(d["ErrorOutputPrefix"].startswith("events-errors/"), f"events error prefix {d['ErrorOutputPrefix']}")
        expect(d["CompressionFormat"] == "UNCOMPRESSED", f"events compression {d['CompressionFormat']}")
        expect(d.get("EncryptionConfiguration", {}).get("KMSEncryptionConfig", {}).get("AWSKMSKeyARN") == key_arn,
               f"events encryption {d.get('EncryptionConfiguration')}")
        conversion = d.get("DataFormatConversionConfiguration") or {}
        expect(conversion.get("Enabled", True) is True, f"format conversion {conversion}")
        schema = conversion.get("SchemaConfiguration", {})
        expect(schema.get("TableName") == "click_events" and schema.get("DatabaseName") == outputs["glue_database"], f"schema {schema}")
        serializer = conversion.get("OutputFormatConfiguration", {}).get("Serializer", {})
        expect("ParquetSerDe" in serializer, f"serializer {serializer}")
        rows = lam.get_function(FunctionName=f"{prefix}-event-rows")["Configuration"]
        params = {p["ParameterName"]: p["ParameterValue"] for p in d["ProcessingConfiguration"]["Processors"][0]["Parameters"]}
        expect(params["LambdaArn"] in (rows["FunctionArn"], f"{rows['FunctionArn']}:$LATEST"), f"events processor {params['LambdaArn']}")
        env = rows.get("Environment", {}).get("Variables", {})
        expect(env.get("RECO_LAMBDA_MODE") == "lake-events", f"RECO_LAMBDA_MODE={env.get('RECO_LAMBDA_MODE')}")

    def click_events_table():
        table = glue.get_table(DatabaseName=outputs["glue_database"], Name="click_events")["Table"]
        sd = table["StorageDescriptor"]
        location = f"s3://{outputs['data_lake_bucket']}/events/"
        expect(sd["Location"] == location, f"click_events location {sd['Location']}")
        keys = [(k["Name"], k["Type"]) for k in table["PartitionKeys"]]
        expect(keys == [("dt", "string")], f"click_events partition keys {keys}")
        expect(sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", f"serde {sd['SerdeInfo']}")
        columns = [c["Name"] for c in sd["Columns"]]
        want = ["event_id", "event_type", "session_id", "customer_number", "event_time", "arrival_time", "item",
                "recommendation_id", "experiment", "variant", "browsed_items", "cart_items"]
        expect(columns == want, f"click_events columns {columns}")
        params = table.get("Parameters", {})
        expect(params.get("storage.location.template") == location + "dt=${dt}/", f"template {params.get('storage.location.template')}")

    checks.run("raw events: a second delivery stream reads the click stream and writes Parquet (KMS) under events/dt=", events_delivery_stream)
    checks.run("raw events: Glue table click_events under events/, partitioned by dt", click_events_table)

    # --- publisher ---
    queue_name = f"{prefix}-published-objects"
    queues = {}

    def publisher_queues():
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=f"{queue_name}-dlq")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        queues.update(arn=attrs["QueueArn"], dlq_arn=dlq["QueueArn"])
        expect(attrs.get("KmsMasterKeyId") == key_arn and dlq.get("KmsMasterKeyId") == key_arn,
               f"queue keys {attrs.get('KmsMasterKeyId')}, {dlq.get('KmsMasterKeyId')}")
        redrive = json.loads(attrs["RedrivePolicy"])
        expect(redrive["deadLetterTargetArn"] == dlq["QueueArn"] and int(redrive["maxReceiveCount"]) == 5, f"redrive {redrive}")
        expect(int(dlq["MessageRetentionPeriod"]) == 14 * 86400, f"dead-letter retention {dlq['MessageRetentionPeriod']}")
        timeout = lam.get_function_configuration(FunctionName=outputs["publisher_function_name"])["Timeout"]
        expect(int(attrs["VisibilityTimeout"]) >= 6 * timeout, f"visibility {attrs['VisibilityTimeout']} s < 6 x {timeout} s")
        policy = json.loads(attrs["Policy"])
        st = policy["Statement"][0]
        expect(st["Principal"] == {"Service": "s3.amazonaws.com"} and st["Action"] == "sqs:SendMessage", f"queue policy {st}")
        expect(st["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{outputs['recommendations_bucket']}", f"source {st['Condition']}")

    def bucket_notifies_queue():
        conf = s3.get_bucket_notification_configuration(Bucket=outputs["recommendations_bucket"])
        found = [q for q in conf.get("QueueConfigurations", []) if q["QueueArn"] == queues.get("arn")]
        expect(len(found) == 1, f"queue configurations {conf.get('QueueConfigurations')}")
        q = found[0]
        expect(q["Events"] == ["s3:ObjectCreated:*"], f"events {q['Events']}")
        rules = {r["Name"].lower(): r["Value"] for r in q["Filter"]["Key"]["FilterRules"]}
        expect(rules == {"prefix": "recommendations/"}, f"filter {rules}")

    def queue_feeds_publisher():
        fn_arn = lam.get_function_configuration(FunctionName=outputs["publisher_function_name"])["FunctionArn"]
        mappings = lam.list_event_source_mappings(EventSourceArn=queues.get("arn"))["EventSourceMappings"]
        expect(len(mappings) == 1, f"{len(mappings)} event source mappings")
        m = mappings[0]
        expect(m["FunctionArn"] == fn_arn, f"mapping feeds {m['FunctionArn']}")
        expect(m["BatchSize"] == 10, f"batch size {m['BatchSize']}")
        # moto does not keep FunctionResponseTypes; the module test asserts ReportBatchItemFailures.
        if "FunctionResponseTypes" in m:
            expect(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"], f"response types {m['FunctionResponseTypes']}")

    checks.run("publisher queue and its dead-letter queue: KMS, redrive after 5, 14 days, visibility >= 6x timeout, S3-only policy", publisher_queues)
    checks.run("recommendations bucket notifies the publisher queue of objects created under recommendations/", bucket_notifies_queue)
    checks.run("publisher queue feeds the publisher Lambda in batches of 10", queue_feeds_publisher)

    def latest_documents_never_expire():
        rules = s3.get_bucket_lifecycle_configuration(Bucket=outputs["recommendations_bucket"])["Rules"]
        expiring = [r for r in rules if "Expiration" in r]
        prefixes = sorted(r.get("Filter", {}).get("Prefix", r.get("Prefix", "")) for r in expiring)
        expect(prefixes == ["errors/", "recommendations/"], f"expiring prefixes {prefixes}")
        expect(not any("latest/".startswith(p) for p in prefixes), f"an expiration covers latest/: {prefixes}")

    checks.run("latest documents never expire (only delivered objects and failed records do)", latest_documents_never_expire)

    # --- storefront ---
    distribution = {}

    def storefront_distribution():
        dist = cloudfront.get_distribution(Id=outputs["distribution_id"])["Distribution"]
        distribution.update(dist)
        cfg = dist["DistributionConfig"]
        expect(outputs["storefront_url"] == f"https://{dist['DomainName']}/", f"storefront_url {outputs['storefront_url']}")
        origins = {o["Id"]: o["DomainName"] for o in cfg["Origins"]["Items"]}
        want = {
            "site": f"{outputs['site_bucket']}.s3.us-east-1.amazonaws.com",
            "latest-documents": f"{outputs['recommendations_bucket']}.s3.us-east-1.amazonaws.com",
        }
        expect(origins == want, f"origins {origins}")
        expect(cfg["DefaultRootObject"] == "index.html", f"default root object {cfg['DefaultRootObject']!r}")
        default = cfg["DefaultCacheBehavior"]
        expect(default["TargetOriginId"] == "site" and default["ViewerProtocolPolicy"] == "redirect-to-https", f"default behaviour {default}")
        behaviours = cfg["CacheBehaviors"].get("Items", [])
        expect(len(behaviours) == 1, f"{len(behaviours)} ordered behaviours")
        latest = behaviours[0]
        expect(latest["PathPattern"] == "/latest/*" and latest["TargetOriginId"] == "latest-documents", f"latest behaviour {latest}")
        expect(latest["ViewerProtocolPolicy"] == "redirect-to-https", f"latest viewer policy {latest['ViewerProtocolPolicy']}")
        expect(sorted(latest["AllowedMethods"]["Items"]) == ["GET", "HEAD"], f"methods {latest['AllowedMethods']}")
        # On the emulator the TTLs are legacy settings (no cache policies); the module test asserts the policies.
        expect(latest.get("DefaultTTL") == 10 and latest.get("MaxTTL") == 60, f"latest TTL {latest.get('DefaultTTL')}/{latest.get('MaxTTL')}")
        expect(cfg["PriceClass"] == "PriceClass_100", f"price class {cfg['PriceClass']}")

    def origin_access_control():
        # moto neither stores nor returns an origin's OriginAccessControlId, so the wiring
        # of both origins is asserted by the storefront module's test; here the control.
        items = cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items", [])
        mine = [o for o in items if o["Name"] == f"{prefix}-storefront"]
        expect(len(mine) == 1, f"origin access controls {[o['Name'] for o in items]}")
        oac = mine[0]
        expect(oac["SigningProtocol"] == "sigv4" and oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3", f"control {oac}")

    def bucket_grants_distribution(bucket, sid, resource):
        def check():
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            found = [st for st in policy["Statement"] if st.get("Sid") == sid]
            expect(len(found) == 1, f"statements {[st.get('Sid') for st in policy['Statement']]}")
            st = found[0]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            principal = st["Principal"].get("Service")
            expect(st["Effect"] == "Allow" and principal in (["cloudfront.amazonaws.com"], "cloudfront.amazonaws.com"), f"principal {st['Principal']}")
            expect(st["Action"] in ("s3:GetObject", ["s3:GetObject"]), f"actions {st['Action']}")
            expect(resources == [resource], f"resources {resources}")
            source = st["Condition"]["StringEquals"]["AWS:SourceArn"]
            source = source if isinstance(source, list) else [source]
            expect(source == [distribution.get("ARN")], f"source {source}, distribution {distribution.get('ARN')}")
        return check

    def site_objects_uploaded():
        expect(args.web_dir, "no --web-dir given")
        files = sorted(
            os.path.relpath(os.path.join(root, f), args.web_dir)
            for root, _, names in os.walk(args.web_dir) for f in names if not f.startswith(".")
        )
        expect("index.html" in files, f"no index.html in {args.web_dir}: {files}")
        listed = s3.list_objects_v2(Bucket=outputs["site_bucket"]).get("Contents", [])
        keys = sorted(o["Key"] for o in listed)
        expect(keys == files, f"site objects {keys}, files {files}")
        for key in keys:
            ext = key.rsplit(".", 1)[-1].lower()
            if ext not in CONTENT_TYPES:
                continue
            head = s3.head_object(Bucket=outputs["site_bucket"], Key=key)
            expect(head["ContentType"] == CONTENT_TYPES[ext], f"{key}: content type {head['ContentType']}")
            expect(head.get("ServerSideEncryption") == "aws:kms", f"{key}: encryption {head.get('ServerSideEncryption')}")

    def key_lets_services_decrypt():
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        by_service = {st["Principal"].get("Service"): st for st in policy["Statement"] if "Service" in st.get("Principal", {})}
        s3_st, cf_st = by_service.get("s3.amazonaws.com"), by_service.get("cloudfront.amazonaws.com")
        expect(s3_st and sorted(s3_st["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"], f"S3 statement {s3_st}")
        expect(cf_st and cf_st["Action"] == "kms:Decrypt" and cf_st["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(":distribution/*"), f"CloudFront statement {cf_st}")

    checks.run("storefront distribution: site and latest-documents origins, /latest/* with a short TTL, HTTPS only", storefront_distribution)
    checks.run("storefront origin access control signs every request (sigv4)", origin_access_control)
    checks.run("site bucket lets only the distribution read its objects",
               bucket_grants_distribution(outputs["site_bucket"], "CloudFrontReadsSite", f"arn:aws:s3:::{outputs['site_bucket']}/*"))
    checks.run("recommendations bucket lets only the distribution read latest/*",
               bucket_grants_distribution(outputs["recommendations_bucket"], "CloudFrontReadsLatestDocuments", f"arn:aws:s3:::{outputs['recommendations_bucket']}/latest/*"))
    checks.run("site objects uploaded from the web folder with their content types, KMS-encrypted", site_objects_uploaded)
    checks.run("KMS key lets S3 (queue notifications) and CloudFront (origins) use it", key_lets_services_decrypt)

    # --- functions ---
    def function_config(name, required_env, concurrency, vpc=True):
        def check():
            fn = lam.get_function(FunctionName=name)
            cfg = fn["Configuration"]
            expect(cfg["Runtime"] == "provided.al2023" and cfg["Handler"] == "bootstrap", f"runtime {cfg['Runtime']}/{cfg['Handler']}")
            subnets = cfg.get("VpcConfig", {}).get("SubnetIds", [])
            if vpc:
                expect(len(subnets) == 2, "not attached to the two private subnets")
            else:
                expect(not subnets, f"attached to subnets {subnets}")
            env = cfg.get("Environment", {}).get("Variables", {})
            wrong = {k: (env.get(k), v) for k, v in required_env.items() if env.get(k) != v}
            expect(not wrong, f"environment (got, want): {wrong}")
            got = fn.get("Concurrency", {}).get("ReservedConcurrentExecutions")
            expect(got == concurrency, f"reserved concurrency {got}, want {concurrency}")
        return check

    checks.run("transform Lambda is configured (reco_reader's secret)", function_config(outputs["transform_function_name"], {
        "RECO_PG_SECRET_ARN": outputs["pg_reader_secret_arn"],
        "RECO_PG_HOST": outputs["pg_endpoint"],
        "RECO_PG_PORT": str(outputs["pg_port"]),
        "RECO_PG_DATABASE": outputs["pg_database"],
        "RECO_KNN_K": "10",
        "RECO_EF_SEARCH": "200",
        "RECO_EXACT_KNN_MAX_ITEMS": "20000",
        "RECO_KNN_CACHE_ITEMS": "500000",
        "RECO_CUSTOMER_VECTOR_CACHE": "200000",
        "RECO_MEMORY_INDEX_MAX_MB": "512",
        "RECO_KNN_RECALL_TARGET": "0.95",
        "RECO_ARTIFACTS_BUCKET": outputs["artifacts_bucket"],
        "RECO_MODEL_PREFIX": "models/",
    }, 10))
    checks.run("publisher Lambda is configured (no VPC)", function_config(outputs["publisher_function_name"], {
        "RECO_RECS_BUCKET": outputs["recommendations_bucket"],
        "RECO_DATA_LAKE_BUCKET": outputs["data_lake_bucket"],
    }, 5, vpc=False))
    checks.run("ETL job is configured", function_config(outputs["etl_function_name"], {
        "RECO_MYSQL_SECRET_ARN": outputs["mysql_secret_arn"],
        "RECO_DATA_LAKE_BUCKET": outputs["data_lake_bucket"],
        "RECO_GLUE_DATABASE": outputs["glue_database"],
        "RECO_GLUE_TABLE": outputs["glue_table"],
        "RECO_ARTIFACTS_BUCKET": outputs["artifacts_bucket"],
    }, 1))
    checks.run("training job is configured", function_config(outputs["train_function_name"], {
        "RECO_DATA_LAKE_BUCKET": outputs["data_lake_bucket"],
        "RECO_ARTIFACTS_BUCKET": outputs["artifacts_bucket"],
        "RECO_MODEL_PREFIX": "models/",
    }, 1))

    checks.run("embeddings loader is configured (one load at a time, reco_loader's secret)", function_config(outputs["load_embeddings_function_name"], {
        "RECO_PG_SECRET_ARN": outputs["pg_loader_secret_arn"],
        "RECO_PG_HOST": outputs["pg_endpoint"],
        "RECO_PG_PORT": str(outputs["pg_port"]),
        "RECO_PG_DATABASE": outputs["pg_database"],
        "RECO_ARTIFACTS_BUCKET": outputs["artifacts_bucket"],
        "RECO_MODEL_PREFIX": "models/",
    }, 1))
    checks.run("batch scorer is configured (reserved concurrency = the map's)", function_config(outputs["score_all_function_name"], {
        "RECO_ARTIFACTS_BUCKET": outputs["artifacts_bucket"],
        "RECO_MODEL_PREFIX": "models/",
        "RECO_DATA_LAKE_BUCKET": outputs["data_lake_bucket"],
        "RECO_RECS_BUCKET": outputs["recommendations_bucket"],
    }, 10))

    pipeline_checks(checks, outputs, prefix, key_arn, args, lam, events, cw, iam, sfn, sns, kms)
    db_roles_checks(checks, outputs, prefix, key_arn, lam, iam, secrets)

    # --- catalog, secrets ---
    def glue_table():
        table = glue.get_table(DatabaseName=outputs["glue_database"], Name=outputs["glue_table"])["Table"]
        location = table["StorageDescriptor"]["Location"]
        expect(location.startswith(f"s3://{outputs['data_lake_bucket']}/"), f"location {location}")
        expect([k["Name"] for k in table["PartitionKeys"]] == ["snapshot"], f"partition keys {table['PartitionKeys']}")
        names = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        expect("customer_number" in names and "rating" in names, f"columns {names}")

    def mysql_secret():
        desc = secrets.describe_secret(SecretId=outputs["mysql_secret_arn"])
        expect(desc.get("KmsKeyId") in (key_arn, key_arn.split("/")[-1]), f"secret key {desc.get('KmsKeyId')}")

    checks.run("Glue table points at the data lake, partitioned by snapshot", glue_table)
    checks.run("source MySQL secret (created empty for the operator) is KMS-encrypted", mysql_secret)

    # --- database ---
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{prefix}-vector-db")["DBInstances"][0]

    def database_private_encrypted():
        expect(db["StorageEncrypted"] is True, "storage not encrypted")
        expect(db["PubliclyAccessible"] is False, "publicly accessible")
        expect(db["BackupRetentionPeriod"] >= 1, "backups off")
        expect(db["Engine"] == "postgres", f"engine {db['Engine']}")
        expect(db.get("MasterUserSecret", {}).get("SecretArn") == outputs["pg_secret_arn"], "master secret is not the RDS-managed one")

    def database_tls_only():
        group = db["DBParameterGroups"][0]["DBParameterGroupName"]
        params = rds.describe_db_parameters(DBParameterGroupName=group, Source="user")["Parameters"]
        values = {p["ParameterName"]: p.get("ParameterValue") for p in params}
        expect(values.get("rds.force_ssl") == "1", f"rds.force_ssl={values.get('rds.force_ssl')}")

    def database_only_from_transform_and_loader():
        sg_id = db["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
        sg = ec2.describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
        perms = sg["IpPermissions"]
        expect(all(p["FromPort"] == 5432 and p["ToPort"] == 5432 and not p.get("IpRanges") for p in perms), f"ingress {perms}")
        sources = sorted(g["GroupId"] for p in perms for g in p.get("UserIdGroupPairs", []))
        transform_sgs = transform["Configuration"]["VpcConfig"]["SecurityGroupIds"]
        loader_sgs = lam.get_function_configuration(FunctionName=outputs["load_embeddings_function_name"])["VpcConfig"]["SecurityGroupIds"]
        expect(sources == sorted(transform_sgs + loader_sgs), f"5432 open to {sources}, transform Lambda is in {transform_sgs}, loader in {loader_sgs}")

    checks.run("vector database is encrypted, private, backed up, RDS-managed password", database_private_encrypted)
    checks.run("vector database forces TLS", database_tls_only)
    checks.run("vector database accepts 5432 only from the transform Lambda and the embeddings loader", database_only_from_transform_and_loader)

    # --- IAM, alarms ---
    def no_wildcard_admin():
        bad = []
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                if not role["RoleName"].startswith(prefix):
                    continue
                for pname in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
                    doc = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=pname)["PolicyDocument"]
                    if isinstance(doc, str):
                        doc = json.loads(doc)
                    for st in doc["Statement"]:
                        if st.get("Effect") == "Deny":
                            continue  # a Deny grants nothing (the event-rows processor denies itself data access)
                        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                        if any(a == "*" or a.endswith(":*") for a in actions) and "*" in resources:
                            bad.append(f"{role['RoleName']}/{pname}")
        expect(not bad, f"wildcard actions on all resources: {bad}")

    def alarms_exist():
        names = {a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
        functions = ("transform", "etl", "train", "publisher", "load-embeddings", "score-all")
        want = {f"{prefix}-{f}-{kind}" for f in functions for kind in ("errors", "throttles")}
        want |= {f"{prefix}-firehose-processing-failures", f"{prefix}-clicks-iterator-age"}
        expect(want <= names, f"missing alarms {sorted(want - names)}")
        dlq_alarm = cw.describe_alarms(AlarmNames=[f"{prefix}-publisher-dead-letters"])["MetricAlarms"]
        expect(len(dlq_alarm) == 1, "no dead-letter alarm")
        alarm = dlq_alarm[0]
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        expect(alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and dims == {"QueueName": f"{queue_name}-dlq"}
               and alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold", f"dead-letter alarm {alarm}")

    checks.run("no role allows wildcard actions on all resources", no_wildcard_admin)
    checks.run("alarms on Lambda errors/throttles, Firehose failures, iterator age, publisher dead letters", alarms_exist)



def render_template(path, values):
    """The template as Terraform's templatefile renders it (JSON with ${name} variables)."""
    text = open(path).read()
    used = set(re.findall(r"(?<!\$)\$\{([^}]*)\}", text))
    expect(used == set(values), f"template variables {sorted(used)}, passed {sorted(values)}")
    return re.sub(r"(?<!\$)\$\{([^}]*)\}", lambda m: values[m.group(1)], text).replace("$${", "${")


def walk_states(states, inside_map=False):
    """Every (name, state, inside a map's item processor) of a States object, nested ones too."""
    for name, state in states.items():
        yield name, state, inside_map
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk_states(processor["States"], True)
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"], inside_map)


def transitions_resolve(machine):
    """Every StartAt / Next / Default / Catch Next names a state of its own States object."""
    problems = []

    def scope(obj, where):
        states = obj["States"]
        if obj["StartAt"] not in states:
            problems.append(f"{where}StartAt {obj['StartAt']}")
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices", [])]
            targets += [c.get("Next") for c in state.get("Catch", [])]
            for target in targets:
                if target is not None and target not in states:
                    problems.append(f"{where}{name} -> {target}")
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                scope(processor, f"{where}{name}/")
    scope(machine, "")
    return problems


def policy_statements(iam, role_name):
    statements = []
    for pname in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=pname)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            statements.append((st.get("Sid"), actions, resources))
    return statements


def resources_of(statements, action):
    return sorted({r for _, actions, resources in statements if action in actions for r in resources})


def pipeline_checks(checks, outputs, prefix, key_arn, args, lam, events, cw, iam, sfn, sns, kms):
    """The daily loop: state machine, schedule, functions' IAM, topic, alarms, dashboard."""
    machine_arn = outputs["state_machine_arn"]
    topic_arn = outputs["notifications_topic_arn"]
    described = sfn.describe_state_machine(stateMachineArn=machine_arn)
    definition = json.loads(described["definition"])
    function_arn = {
        key: lam.get_function_configuration(FunctionName=outputs[out])["FunctionArn"]
        for key, out in (("etl_function_arn", "etl_function_name"), ("train_function_arn", "train_function_name"),
                         ("load_function_arn", "load_embeddings_function_name"), ("score_function_arn", "score_all_function_name"))
    }

    def machine_is_the_rendered_template():
        expect(described["type"] == "STANDARD", f"type {described['type']}")
        expect(described["name"] == f"{prefix}-pipeline", f"name {described['name']}")
        expect(args.asl_template, "no --asl-template given")
        want = json.loads(render_template(args.asl_template, {**function_arn, "topic_arn": topic_arn, **SFN_NUMBERS}))
        expect(definition == want, "the deployed definition is not the template rendered with this stack's functions and topic")

    def transitions():
        problems = transitions_resolve(definition)
        expect(not problems, f"transitions to missing states: {problems}")
        expect(definition["StartAt"] == "Etl", f"StartAt {definition['StartAt']}")

    def score_all_is_distributed():
        state = definition["States"].get("ScoreAll", {})
        processor = state.get("ItemProcessor", {})
        expect(state.get("Type") == "Map", f"ScoreAll is {state.get('Type')}")
        expect(processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED", f"processor {processor.get('ProcessorConfig')}")
        expect(processor.get("ProcessorConfig", {}).get("ExecutionType") == "STANDARD", f"processor {processor.get('ProcessorConfig')}")
        expect(state.get("MaxConcurrency") == 10, f"MaxConcurrency {state.get('MaxConcurrency')}")
        tasks = [s for _, s, _ in walk_states(processor["States"]) if s["Type"] == "Task"]
        expect(tasks and all(t["Parameters"]["FunctionName"] == function_arn["score_function_arn"] for t in tasks), "shards must invoke the scorer")
        expect(state.get("Catch"), "the map has no Catch")

    def tasks_retry_and_catch():
        bad = []
        tasks = [(n, s, inside) for n, s, inside in walk_states(definition["States"]) if s["Type"] == "Task"]
        for name, state, inside in tasks:
            retries = state.get("Retry", [])
            if not retries or not all(r.get("JitterStrategy") == "FULL" for r in retries):
                bad.append(f"{name}: Retry {retries}")
            # A task inside the map's item processor fails its shard; the map's Catch handles it.
            if not inside and not state.get("Catch"):
                bad.append(f"{name}: no Catch")
        expect(len(tasks) >= 8, f"only {len(tasks)} tasks")
        expect(not bad, f"tasks: {bad}")

    def machine_role():
        role_name = described["roleArn"].split("/")[-1]
        statements = policy_statements(iam, role_name)
        invoked = resources_of(statements, "lambda:InvokeFunction")
        want = sorted([a for arn in function_arn.values() for a in (arn, f"{arn}:*")])
        expect(invoked == want, f"invokes {invoked}")
        expect(resources_of(statements, "sns:Publish") == [topic_arn], f"publishes to {resources_of(statements, 'sns:Publish')}")
        expect(resources_of(statements, "states:StartExecution") == [machine_arn], f"starts {resources_of(statements, 'states:StartExecution')}")
        executions = machine_arn.replace(":stateMachine:", ":execution:") + "/*"
        expect(resources_of(statements, "states:DescribeExecution") == [executions], f"describes {resources_of(statements, 'states:DescribeExecution')}")
        expect(resources_of(statements, "logs:CreateLogDelivery") == ["*"], "no log delivery")

    def machine_logs_and_traces():
        logging = described.get("loggingConfiguration") or {}
        # moto leaves out includeExecutionData when it is false; the module test asserts it.
        expect(logging.get("level") == "ERROR" and logging.get("includeExecutionData", False) is False, f"logging {logging}")
        destination = logging["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
        expect(f":log-group:/aws/vendedlogs/states/{prefix}-pipeline" in destination, f"log group {destination}")
        tracing = described.get("tracingConfiguration")
        # moto keeps the tracing configuration only in some versions; the module test asserts it.
        if tracing is not None:
            expect(tracing.get("enabled") is True, f"tracing {tracing}")

    def schedule_starts_machine():
        rule = events.describe_rule(Name=f"{prefix}-pipeline-schedule")
        expect(rule["ScheduleExpression"] == "cron(0 2 * * ? *)" and rule["State"] == "ENABLED", f"rule {rule}")
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        expect([t["Arn"] for t in targets] == [machine_arn], f"targets {[t['Arn'] for t in targets]}")
        role = targets[0]["RoleArn"].split("/")[-1]
        started = resources_of(policy_statements(iam, role), "states:StartExecution")
        expect(started == [machine_arn], f"the schedule's role starts {started}")

    def one_schedule_only():
        rules = [r["Name"] for r in events.list_rules(NamePrefix=prefix)["Rules"] if r.get("ScheduleExpression")]
        expect(rules == [f"{prefix}-pipeline-schedule"], f"scheduled rules {rules}")

    def abnormal_ends_reach_topic():
        rule = events.describe_rule(Name=f"{prefix}-pipeline-timed-out-or-aborted")
        pattern = json.loads(rule["EventPattern"])
        expect(pattern["detail"]["status"] == ["TIMED_OUT", "ABORTED"] and pattern["detail"]["stateMachineArn"] == [machine_arn], f"pattern {pattern}")
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        expect([t["Arn"] for t in targets] == [topic_arn], f"targets {[t['Arn'] for t in targets]}")

    def loader_and_scorer_least_privilege():
        loader = policy_statements(iam, f"{prefix}-load-embeddings-lambda")
        scorer = policy_statements(iam, f"{prefix}-score-all-lambda")
        artifacts = f"arn:aws:s3:::{outputs['artifacts_bucket']}"
        recs = f"arn:aws:s3:::{outputs['recommendations_bucket']}"
        expect(resources_of(loader, "s3:PutObject") == [f"{artifacts}/models/LATEST", f"{artifacts}/models/LATEST.model.bin"], f"loader writes {resources_of(loader, 's3:PutObject')}")
        expect(resources_of(loader, "secretsmanager:GetSecretValue") == [outputs["pg_loader_secret_arn"]], f"loader reads secrets {resources_of(loader, 'secretsmanager:GetSecretValue')}")
        expect(resources_of(scorer, "s3:PutObject") == [f"{recs}/latest/*"], f"scorer writes {resources_of(scorer, 's3:PutObject')}")
        expect(not resources_of(scorer, "secretsmanager:GetSecretValue"), "the scorer reads secrets")

    def topic_encrypted():
        attrs = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        expect(topic_arn.endswith(f":{prefix}-notifications"), f"topic {topic_arn}")
        expect(attrs.get("KmsMasterKeyId") == key_arn, f"topic key {attrs.get('KmsMasterKeyId')}")
        policy = json.loads(attrs["Policy"])
        services = {st["Principal"].get("Service") for st in policy["Statement"] if "Service" in st.get("Principal", {})}
        expect(services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}, f"services allowed to publish {services}")
        expect(all(st.get("Condition") for st in policy["Statement"] if "Service" in st.get("Principal", {})), "a service statement without condition")

    def key_lets_alarms_and_rules_use_it():
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        by_service = {st["Principal"].get("Service"): st for st in policy["Statement"] if "Service" in st.get("Principal", {})}
        cw_st, ev_st = by_service.get("cloudwatch.amazonaws.com"), by_service.get("events.amazonaws.com")
        expect(cw_st and cw_st["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":alarm:*"), f"CloudWatch statement {cw_st}")
        expect(ev_st and sorted(ev_st["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"], f"EventBridge statement {ev_st}")

    def every_alarm_tells_topic():
        alarms = cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        expect(len(alarms) >= 20, f"only {len(alarms)} alarms")
        silent = [a["AlarmName"] for a in alarms if topic_arn not in a.get("AlarmActions", [])]
        expect(not silent, f"alarms not telling the topic: {silent}")

    def health_alarms():
        by_name = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
        rate = by_name.get(f"{prefix}-transform-processing-failed-rate")
        expect(rate, "no processing-failed rate alarm")
        queries = {q["Id"]: q for q in rate["Metrics"]}
        returned = [q for q in rate["Metrics"] if q.get("ReturnData", True) and "Expression" in q and q["Id"] == "rate"]
        expect(returned and "failed" in returned[0]["Expression"] and rate["Threshold"] == 1, f"rate alarm {rate['Metrics']}")
        stats = {q["Id"]: (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
                           {d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]})
                 for q in queries.values() if "MetricStat" in q}
        want = {"ok": ("reco", "RecordsOk", {"Service": "transform"}), "failed": ("reco", "RecordsFailed", {"Service": "transform"}),
                "dropped": ("reco", "RecordsDropped", {"Service": "transform"})}
        expect(stats == want, f"rate metrics {stats}")
        fresh = by_name.get(f"{prefix}-publisher-freshness")
        expect(fresh and fresh["Namespace"] == "reco" and fresh["MetricName"] == "FreshnessSeconds" and fresh["Statistic"] == "Maximum"
               and fresh["Threshold"] == 300 and fresh["Dimensions"] == [{"Name": "Service", "Value": "publisher"}], f"freshness alarm {fresh}")
        for kind, metric in (("failed", "ExecutionsFailed"), ("timed-out", "ExecutionsTimedOut")):
            alarm = by_name.get(f"{prefix}-pipeline-executions-{kind}")
            expect(alarm and alarm["Namespace"] == "AWS/States" and alarm["MetricName"] == metric
                   and alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine_arn}], f"{kind} alarm {alarm}")

    def dashboard_names_metrics():
        body = json.loads(cw.get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"])
        shown = set()
        for widget in body["widgets"]:
            for metric in widget["properties"].get("metrics", []):
                plain = [m for m in metric if isinstance(m, str)]
                if len(plain) >= 4:
                    shown.add(tuple(plain[:4]))
        missing = [(svc, m) for svc, names in EMF_METRICS.items() for m in names if ("reco", m, "Service", svc) not in shown]
        expect(not missing, f"metrics missing from the dashboard: {missing}")
        for m in ("ExecutionsStarted", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsSucceeded"):
            expect(("AWS/States", m, "StateMachineArn", machine_arn) in shown, f"no {m} of the state machine")
        expect(("AWS/Lambda", "Errors", "FunctionName", outputs["transform_function_name"]) in shown, "no transform Lambda errors")

    checks.run("state machine is STANDARD and runs the template rendered with this stack's functions and topic", machine_is_the_rendered_template)
    checks.run("every StartAt / Next / Default / Catch of the definition names an existing state", transitions)
    checks.run("ScoreAll is a Distributed Map (STANDARD children, 10 at once) over the scorer", score_all_is_distributed)
    checks.run("every Task retries with JitterStrategy FULL and is caught (shard tasks by their map)", tasks_retry_and_catch)
    checks.run("state machine role invokes exactly the four functions, publishes to the topic, runs its map's children", machine_role)
    checks.run("state machine logs errors without execution data to its vended log group, traces", machine_logs_and_traces)
    checks.run("daily schedule starts the state machine through a role allowed only that", schedule_starts_machine)
    checks.run("the daily schedule is the stack's only schedule (no ETL/training crons)", one_schedule_only)
    checks.run("timed-out and aborted executions reach the topic through EventBridge", abnormal_ends_reach_topic)
    checks.run("loader writes only models/LATEST and reads only reco_loader's secret; scorer writes only latest/*", loader_and_scorer_least_privilege)
    checks.run("notifications topic is KMS-encrypted; only this account's alarms and rules may publish", topic_encrypted)
    checks.run("KMS key lets CloudWatch alarms and EventBridge publish to the encrypted topic", key_lets_alarms_and_rules_use_it)
    checks.run("every alarm of the stack tells the notifications topic", every_alarm_tells_topic)
    checks.run("alarms: transform processing-failed rate (metric math), publisher freshness, executions failed / timed out", health_alarms)
    checks.run("dashboard shows every EMF metric, the executions and the transform Lambda's errors", dashboard_names_metrics)


def db_roles_checks(checks, outputs, prefix, key_arn, lam, iam, secrets):
    """The least-privilege database roles: their secrets (empty until the migration runs),
    the migrate function, and who may read which secret."""
    role_secrets = [outputs["pg_reader_secret_arn"], outputs["pg_loader_secret_arn"]]
    master = outputs["pg_secret_arn"]

    def role_secrets_empty_and_encrypted():
        for arn, role in zip(role_secrets, ["reco_reader", "reco_loader"]):
            desc = secrets.describe_secret(SecretId=arn)
            expect(desc["Name"] == f"{prefix}-vector-db/roles/{role}", f"secret name {desc['Name']}")
            expect(desc.get("KmsKeyId") in (key_arn, key_arn.split("/")[-1]), f"{role} secret key {desc.get('KmsKeyId')}")
            # The value is the migration's: Terraform wrote none (nothing in plan or state).
            expect(not desc.get("VersionIdsToStages"), f"{role} secret has versions {desc.get('VersionIdsToStages')}")

    def migrate_function():
        cfg = lam.get_function(FunctionName=outputs["db_migrate_function_name"])["Configuration"]
        expect(cfg["FunctionName"] == f"{prefix}-db-migrate", f"function {cfg['FunctionName']}")
        expect(len(cfg.get("VpcConfig", {}).get("SubnetIds", [])) == 2, "not inside the VPC")
        env = cfg.get("Environment", {}).get("Variables", {})
        want = {
            "RECO_PG_SECRET_ARN": master,
            "RECO_PG_HOST": outputs["pg_endpoint"],
            "RECO_PG_DATABASE": outputs["pg_database"],
            "RECO_PG_READER_SECRET_ARN": role_secrets[0],
            "RECO_PG_LOADER_SECRET_ARN": role_secrets[1],
        }
        wrong = {k: (env.get(k), v) for k, v in want.items() if env.get(k) != v}
        expect(not wrong, f"environment (got, want): {wrong}")
        # The stack did not create the source database: no reco_etl user to make.
        expect("RECO_MYSQL_ETL_SECRET_ARN" not in env and "RECO_MYSQL_SECRET_ARN" not in env, f"MySQL settings {sorted(env)}")

    def secrets_least_privilege():
        migrate = policy_statements(iam, f"{prefix}-db-migrate-lambda")
        expect(resources_of(migrate, "secretsmanager:GetSecretValue") == sorted([master] + role_secrets), f"migrate reads {resources_of(migrate, 'secretsmanager:GetSecretValue')}")
        for action in ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]:
            expect(resources_of(migrate, action) == sorted(role_secrets), f"migrate {action} on {resources_of(migrate, action)}")
        transform = policy_statements(iam, f"{prefix}-transform-lambda")
        expect(resources_of(transform, "secretsmanager:GetSecretValue") == [role_secrets[0]], f"transform reads {resources_of(transform, 'secretsmanager:GetSecretValue')}")
        # Only the migration reads the master secret, and only it writes any secret.
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                if not name.startswith(f"{prefix}-") or name == f"{prefix}-db-migrate-lambda":
                    continue
                statements = policy_statements(iam, name)
                expect(master not in resources_of(statements, "secretsmanager:GetSecretValue"), f"{name} reads the master secret")
                expect(not resources_of(statements, "secretsmanager:PutSecretValue"), f"{name} writes secrets")

    checks.run("role secrets (reco_reader, reco_loader) are KMS-encrypted and hold no value from Terraform", role_secrets_empty_and_encrypted)
    checks.run("migrate function runs inside the VPC with the master and role secrets", migrate_function)
    checks.run("only the migration reads the master secret and writes role secrets; the transform reads reco_reader's only", secrets_least_privilege)


def source_db_checks(checks, outputs, prefix, key_arn, args, rds, secrets, ec2, **_):
    """The created source MySQL and its connection secret."""
    source_db = rds.describe_db_instances(DBInstanceIdentifier=f"{prefix}-source-db")["DBInstances"][0]
    connection = {}

    def mysql_secret():
        desc = secrets.describe_secret(SecretId=outputs["source_db_secret_arn"])
        expect(desc.get("KmsKeyId") in (key_arn, key_arn.split("/")[-1]), f"secret key {desc.get('KmsKeyId')}")
        connection.update(json.loads(secrets.get_secret_value(SecretId=outputs["source_db_secret_arn"])["SecretString"]))
        expect(sorted(connection) == ["dbname", "host", "password", "port", "username"], f"secret keys {sorted(connection)}")
        expect(connection["host"] == source_db["Endpoint"]["Address"] == outputs["source_db_endpoint"], f"host {connection['host']}")
        expect(connection["dbname"] == "classicmodels" and int(connection["port"]) == 3306, f"dbname/port {connection['dbname']}/{connection['port']}")
        expect(len(connection["password"]) == 32, "password is not the generated 32-character one")

    def no_password_in_state():
        expect(connection.get("password"), "no password read from the secret")
        for path in (args.state, args.raw_state):
            expect(connection["password"] not in open(path).read(), f"the source database password is in {path}")

    def source_db_private_encrypted_tls():
        expect(source_db["Engine"] == "mysql", f"engine {source_db['Engine']}")
        expect(source_db["StorageEncrypted"] is True and source_db["PubliclyAccessible"] is False, "not encrypted or public")
        expect(source_db["BackupRetentionPeriod"] >= 1, "backups off")
        group = source_db["DBParameterGroups"][0]["DBParameterGroupName"]
        params = rds.describe_db_parameters(DBParameterGroupName=group, Source="user")["Parameters"]
        values = {p["ParameterName"]: p.get("ParameterValue") for p in params}
        expect(values.get("require_secure_transport") == "1", f"require_secure_transport={values.get('require_secure_transport')}")
        sg_id = source_db["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
        perms = ec2.describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]["IpPermissions"]
        jobs_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{prefix}-jobs"]}])["SecurityGroups"][0]["GroupId"]
        expect(len(perms) == 1 and perms[0]["FromPort"] == 3306 and [p["GroupId"] for p in perms[0]["UserIdGroupPairs"]] == [jobs_sg],
               f"3306 ingress {perms}, jobs are in {jobs_sg}")

    def etl_user_secret():
        arn = outputs.get("mysql_etl_secret_arn")
        expect(arn, "no mysql_etl_secret_arn output")
        desc = secrets.describe_secret(SecretId=arn)
        expect(desc["Name"] == f"{prefix}-source-db/roles/reco_etl", f"secret name {desc['Name']}")
        expect(desc.get("KmsKeyId") in (key_arn, key_arn.split("/")[-1]), f"secret key {desc.get('KmsKeyId')}")
        expect(not desc.get("VersionIdsToStages"), f"the migration's secret has versions from Terraform {desc.get('VersionIdsToStages')}")

    checks.run("source MySQL secret is KMS-encrypted and holds the connection JSON", mysql_secret)
    checks.run("reco_etl's secret is KMS-encrypted and left for the migration to write", etl_user_secret)
    checks.run("generated source database password is not in the Terraform state", no_password_in_state)
    checks.run("source MySQL is encrypted, private, TLS-only, reachable only by the jobs", source_db_private_encrypted_tls)


if __name__ == "__main__":
    sys.exit(main())
