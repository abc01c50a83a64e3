//! The whole pipeline on the local stack through the `reco` binary: classicmodels -> ETL ->
//! train -> load embeddings -> `score-all` (2 shards) -> produce 1,000 clicks from 600+
//! distinct customers -> `firehose-local --until-idle` (delivers and publishes) -> `reco recs`
//! -> the storefront page in a real headless Chromium, with every resource of its own
//! (databases, buckets, Glue database, Kinesis stream and a delivery stream shaped like the
//! deployed one: time partitions, no dynamic partitioning).
#![cfg(feature = "integration")]

use std::io::Read as _;
use std::process::{Command, Output};
use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
    KinesisStreamSourceConfiguration, ProcessingConfiguration, Processor, ProcessorParameter,
    ProcessorParameterName, ProcessorType,
};
use aws_sdk_kinesis::types::StreamStatus;
use std::collections::BTreeMap;

use reco_config::var;
use reco_domain::recommendation::RecommendationRecord;
use reco_domain::serving::{DocumentSource, LatestDocument};
use reco_testkit::{LocalStack, unique_name};

const EVENTS: usize = 1_000;

fn reco(env: &[(&str, String)], args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_reco"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("cannot run reco");
    assert!(
        output.status.success() || args[0] == "recs",
        "reco {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn clicks_become_recommendations_for_known_and_unknown_customers() {
    let stack = LocalStack::get();
    let sdk = stack.sdk_config().await;
    let mysql = stack.mysql_database().await;
    let pg = stack.pg_database().await;
    let (lake, artifacts, recs) = (
        stack.s3_bucket().await,
        stack.s3_bucket().await,
        stack.s3_bucket().await,
    );
    let glue_db = unique_name("reco_t_e2e_", '_');
    let stream = unique_name("reco-t-e2e-clicks-", '-');
    let delivery = unique_name("reco-t-e2e-recs-", '-');
    let glue = aws_sdk_glue::Client::new(&sdk);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    glue.create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&glue_db)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();

    // Where `reco firehose-local` keeps its position for this delivery stream.
    let checkpoint = stack
        .root()
        .join(".local/firehose-local")
        .join(format!("{delivery}.checkpoint.json"));
    let result = async {
        let mut stream_arn = None;
        for _ in 0..100 {
            let s = kinesis.describe_stream_summary().stream_name(&stream).send().await?;
            let s = s.stream_description_summary.unwrap();
            if s.stream_status == StreamStatus::Active {
                stream_arn = Some(s.stream_arn);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let role = "arn:aws:iam::123456789012:role/reco-t-firehose";
        let parameter = |n: ProcessorParameterName, v: &str| {
            ProcessorParameter::builder().parameter_name(n).parameter_value(v).build().unwrap()
        };
        firehose
            .create_delivery_stream()
            .delivery_stream_name(&delivery)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(stream_arn.expect("stream not active"))
                    .role_arn(role)
                    .build()?,
            )
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn(role)
                    .bucket_arn(format!("arn:aws:s3:::{}", recs.name))
                    .prefix("recommendations/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")
                    .error_output_prefix("errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/")
                    // As deployed: the transform gzips each record, the stream stores them.
                    .compression_format(CompressionFormat::Uncompressed)
                    .file_extension(".ndjson.gz")
                    .buffering_hints(BufferingHints::builder().size_in_mbs(64).interval_in_seconds(60).build())
                    .processing_configuration(
                        ProcessingConfiguration::builder()
                            .enabled(true)
                            .processors(
                                Processor::builder()
                                    .r#type(ProcessorType::Lambda)
                                    .parameters(parameter(
                                        ProcessorParameterName::LambdaArn,
                                        "arn:aws:lambda:us-east-1:123456789012:function:reco-t:$LATEST",
                                    ))
                                    .parameters(parameter(ProcessorParameterName::BufferSizeInMb, "3"))
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await?;

        let env = vec![
            (var::RECO_ENV, "local".to_owned()),
            (var::RECO_MYSQL_URL, mysql.url.clone()),
            (var::RECO_PG_URL, pg.url.clone()),
            (var::RECO_DATA_LAKE_BUCKET, lake.name.clone()),
            (var::RECO_ARTIFACTS_BUCKET, artifacts.name.clone()),
            (var::RECO_RECS_BUCKET, recs.name.clone()),
            (var::RECO_GLUE_DATABASE, glue_db.clone()),
            (var::RECO_CLICK_STREAM, stream.clone()),
            (var::RECO_DELIVERY_STREAM, delivery.clone()),
            (var::RECO_LOCAL_DIR, stack.root().join(".local").display().to_string()),
        ];
        // The real classicmodels dump, beside the repository (as reco-etl's tests read it).
        let dump = stack.root().join("../shared/data/classicmodels.sql");
        reco(&env, &["source", "load-classicmodels", &dump.display().to_string()]);
        reco(&env, &["etl"]);
        reco(&env, &["train"]);
        reco(&env, &["load-embeddings"]);
        // The daily scoring of every known customer, fanned out as the state machine does.
        reco(&env, &["score-all", "--shard", "0/2"]);
        reco(&env, &["score-all", "--shard", "1/2"]);
        let events = EVENTS.to_string();
        // Most events from customers unknown to the model: 600+ distinct customers land in one
        // buffer window, past the 500 partitions a per-customer prefix would allow. Views only:
        // every event gets a record (the default mix's impressions are returned `Dropped`).
        reco(&env, &["produce", "--events", &events, "--unknown-share", "0.65", "--views-only"]);
        let delivered = reco(&env, &["firehose-local", "--until-idle"]);
        let stderr = String::from_utf8_lossy(&delivered.stderr);
        assert!(!stderr.contains("active-partition quota"), "{stderr}");

        // Every event is accounted for; no browsed item is ever recommended.
        let s3 = recs.client();
        let mut ok = Vec::new();
        let mut failed = 0;
        let mut pages = s3.list_objects_v2().bucket(&recs.name).into_paginator().send();
        while let Some(page) = pages.next().await {
            for object in page?.contents() {
                let key = object.key().unwrap();
                let body = s3.get_object().bucket(&recs.name).key(key).send().await?;
                let bytes = body.body.collect().await?.into_bytes();
                if key.starts_with("latest/") {
                    continue;
                }
                let mut text = String::new();
                if key.starts_with("errors/") {
                    // Firehose's error lines, stored as the stream stores objects (UNCOMPRESSED).
                    text = String::from_utf8(bytes.to_vec())?;
                } else {
                    assert!(key.ends_with(".ndjson.gz"), "{key}");
                    // One gzip member per record: read them all.
                    flate2::read::MultiGzDecoder::new(bytes.as_ref()).read_to_string(&mut text)?;
                }
                assert!(key.starts_with("recommendations/dt=") || key.starts_with("errors/"), "{key}");
                if key.starts_with("errors/") {
                    failed += text.lines().count();
                } else {
                    for line in text.lines() {
                        ok.push(serde_json::from_str::<RecommendationRecord>(line)?);
                    }
                }
            }
        }
        assert_eq!(ok.len() + failed, EVENTS);
        assert_eq!(failed, 0, "the producer writes valid events only");
        for record in &ok {
            assert!(!record.recommended_items.is_empty());
            for item in record.recommended_items.iter().chain(&record.similar_items) {
                assert!(
                    record.event.browsed_items.iter().all(|b| *b != item.id),
                    "{} was browsed in {}",
                    item.id,
                    record.event.session_id
                );
            }
        }

        // Every customer who clicked has a stream document holding the recommendations of
        // their newest record (the batch documents written before are older).
        let mut newest: BTreeMap<i64, &RecommendationRecord> = BTreeMap::new();
        for record in &ok {
            newest.insert(record.event.customer_number, record);
        }
        assert!(newest.len() >= 600, "only {} distinct customers", newest.len());
        for (customer, record) in &newest {
            let out = reco(&env, &["recs", "--customer", &customer.to_string(), "--json", "--no-fallback"]);
            assert!(out.status.success(), "customer {customer}: {}", String::from_utf8_lossy(&out.stderr));
            let doc: LatestDocument = serde_json::from_slice(&out.stdout)?;
            assert_eq!(doc.customer_number, Some(*customer));
            assert_eq!(doc.source, DocumentSource::Stream, "customer {customer}");
            assert!(doc.recommended.len() <= 10);
            let codes: Vec<&str> = doc.recommended.iter().map(|i| i.product_code.as_str()).collect();
            let expected: Vec<&str> = record.recommended_items.iter().map(|i| i.id.as_str()).collect();
            assert_eq!(codes, expected, "customer {customer}");
            assert!(doc.recommended.iter().all(|i| i.name.is_some()), "display fields missing");
            let bytes = serde_json::to_vec(&doc)?.len();
            assert!(bytes < 8 * 1024, "document of {bytes} bytes");
            // Only the customer's newest record counts; it is not necessarily the last one read
            // from the stream (two shards), so compare provenance too.
            assert_eq!(doc.provenance.recommendation_id, record.recommendation_id);
            if newest.len() > 40 && *customer > 9_000_100 {
                break; // enough unknown customers checked one by one
            }
        }
        // A rated customer without clicks keeps the batch document score-all wrote.
        let quiet = (100..600)
            .find(|n| {
                !newest.contains_key(n)
                    && reco(&env, &["recs", "--customer", &n.to_string(), "--no-fallback"])
                        .status
                        .success()
            })
            .expect("a known customer without clicks with a batch document");
        let out = reco(&env, &["recs", "--customer", &quiet.to_string(), "--json"]);
        let doc: LatestDocument = serde_json::from_slice(&out.stdout)?;
        assert_eq!(doc.source, DocumentSource::Batch);
        assert!(!doc.recommended.is_empty());
        // An unknown customer without clicks gets the popular fallback; without it, nothing.
        let out = reco(&env, &["recs", "--customer", "1", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let popular: LatestDocument = serde_json::from_slice(&out.stdout)?;
        assert_eq!((popular.source, popular.customer_number), (DocumentSource::Popular, None));
        let none = reco(&env, &["recs", "--customer", "1", "--no-fallback"]);
        assert_eq!(none.status.code(), Some(1));

        // The storefront page, in a real headless Chromium, on this run's documents.
        let known = *newest.keys().find(|n| **n < 9_000_000).expect("a known customer clicked");
        let check = Command::new("bash")
            .arg(stack.root().join("scripts/storefront-check.sh"))
            .args(["--docs-bucket", &recs.name, "--known", &known.to_string(), "--unknown", "1"])
            .current_dir(stack.root())
            .output()?;
        assert!(
            check.status.success(),
            "storefront check failed:\n{}\n{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(stdout.contains(" 0 failed"), "{stdout}");

        // A second run resumes after the checkpoint the first one wrote: nothing is delivered twice.
        assert!(checkpoint.exists(), "{} missing", checkpoint.display());
        let again = reco(&env, &["firehose-local", "--until-idle"]);
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("resuming after sequence number"), "{stderr}");
        assert!(stderr.contains("done: 0 read"), "{stderr}");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    let _ = firehose
        .delete_delivery_stream()
        .delivery_stream_name(&delivery)
        .send()
        .await;
    let _ = kinesis.delete_stream().stream_name(&stream).send().await;
    let _ = glue.delete_database().name(&glue_db).send().await;
    let _ = std::fs::remove_file(&checkpoint);
    result.unwrap();
}
