//! Fault: records the transform cannot answer. `reco firehose-local` delivers the good ones,
//! writes the bad ones under the error prefix and exits with its own code (3) and a one-line
//! summary, so a script or an operator cannot mistake the run for a clean one.
#![cfg(feature = "integration")]

mod fault_support;

use std::time::Duration;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
    KinesisStreamSourceConfiguration, ProcessingConfiguration, Processor, ProcessorParameter,
    ProcessorParameterName, ProcessorType,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::StreamStatus;
use fault_support::{command, list, reco};
use reco_config::var;
use reco_testkit::{LocalStack, unique_name};

#[tokio::test]
async fn failed_records_make_firehose_local_exit_3() {
    let stack = LocalStack::get();
    let sdk = stack.sdk_config().await;
    let mysql = stack.mysql_database().await;
    let pg = stack.pg_database().await;
    let (lake, artifacts, recs) = (
        stack.s3_bucket().await,
        stack.s3_bucket().await,
        stack.s3_bucket().await,
    );
    let glue_db = unique_name("reco_t_fault_fh_", '_');
    let stream = unique_name("reco-t-fault-fh-clicks-", '-');
    let delivery = unique_name("reco-t-fault-fh-recs-", '-');
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
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let result = async {
        let mut stream_arn = None;
        for _ in 0..100 {
            let s = kinesis
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await?;
            let s = s.stream_description_summary.unwrap();
            if s.stream_status == StreamStatus::Active {
                stream_arn = Some(s.stream_arn);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let role = "arn:aws:iam::123456789012:role/reco-t-firehose";
        let parameter = |n: ProcessorParameterName, v: &str| {
            ProcessorParameter::builder()
                .parameter_name(n)
                .parameter_value(v)
                .build()
                .unwrap()
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
                    .prefix("recommendations/dt=!{timestamp:yyyy-MM-dd}/")
                    .error_output_prefix(
                        "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
                    )
                    .compression_format(CompressionFormat::Gzip)
                    .file_extension(".ndjson.gz")
                    .buffering_hints(
                        BufferingHints::builder()
                            .size_in_mbs(64)
                            .interval_in_seconds(60)
                            .build(),
                    )
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
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await?;

        let env = vec![
            (var::RECO_MYSQL_URL, mysql.url.clone()),
            (var::RECO_PG_URL, pg.url.clone()),
            (var::RECO_DATA_LAKE_BUCKET, lake.name.clone()),
            (var::RECO_ARTIFACTS_BUCKET, artifacts.name.clone()),
            (var::RECO_RECS_BUCKET, recs.name.clone()),
            (var::RECO_GLUE_DATABASE, glue_db.clone()),
            (var::RECO_CLICK_STREAM, stream.clone()),
            (var::RECO_DELIVERY_STREAM, delivery.clone()),
        ];
        let dump = stack.root().join("../shared/data/classicmodels.sql");
        reco(
            &env,
            &["source", "load-classicmodels", &dump.display().to_string()],
        );
        reco(&env, &["etl"]);
        reco(&env, &["train"]);
        reco(&env, &["load-embeddings"]);
        reco(&env, &["produce", "--events", "3"]);
        for bad in ["not json", "{\"customer_number\": \"x\"}"] {
            kinesis
                .put_record()
                .stream_name(&stream)
                .partition_key("bad")
                .data(Blob::new(bad))
                .send()
                .await?;
        }
        let run = command(
            &env,
            &["firehose-local", "--until-idle", "--no-checkpoint", "--no-publish"],
        )
        .output()?;
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(3), "{stderr}");
        let summary = stderr
            .lines()
            .find(|l| l.contains("record(s) failed"))
            .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
        assert_eq!(
            summary,
            format!(
                "firehose-local: 2 of 5 record(s) failed (some records) and were written under \
                 s3://{}/errors/ with their reason: read them there, fix the cause and put the events again",
                recs.name
            )
        );
        let keys = list(&recs, "").await;
        assert!(keys.iter().any(|k| k.starts_with("errors/")), "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with("recommendations/")), "{keys:?}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    firehose
        .delete_delivery_stream()
        .delivery_stream_name(&delivery)
        .send()
        .await
        .ok();
    kinesis
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .ok();
    glue.delete_database().name(&glue_db).send().await.ok();
    result.unwrap();
}
