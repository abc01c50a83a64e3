//! The delivery stream's configuration, read from the Firehose API (DescribeDeliveryStream)
//! exactly as Terraform deployed it.

use std::time::Duration;

use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::types::{CompressionFormat, ProcessorParameterName, ProcessorType};
use reco_transform_lambda::TransformOptions;

/// Firehose's default processor buffer size when the parameter is absent (1 MB; AWS docs,
/// "Data transformation": BufferSizeInMBs default).
pub const DEFAULT_PROCESSOR_BUFFER_MB: u32 = 1;
/// Firehose's default processor buffer interval (60 s, same source).
pub const DEFAULT_PROCESSOR_INTERVAL_S: u32 = 60;
/// Firehose's default number of Lambda retries (3, same source).
pub const DEFAULT_PROCESSOR_RETRIES: u32 = 3;
/// Firehose's default S3 buffering size (5 MB; 64 MB with dynamic partitioning).
pub const DEFAULT_BUFFER_MB: u32 = 5;
/// Firehose's default S3 buffering interval (300 s).
pub const DEFAULT_BUFFER_INTERVAL_S: u32 = 300;
/// Attempts of the DescribeDeliveryStream call (the SDK's standard retry mode: exponential
/// back-off with jitter), set explicitly rather than left to the profile.
pub const FIREHOSE_MAX_ATTEMPTS: u32 = 3;

/// A Firehose API client on `sdk` with [`FIREHOSE_MAX_ATTEMPTS`].
pub fn firehose_client(sdk: &aws_config::SdkConfig) -> aws_sdk_firehose::Client {
    aws_sdk_firehose::Client::from_conf(
        aws_sdk_firehose::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(FIREHOSE_MAX_ATTEMPTS))
            .build(),
    )
}

/// What the local runner honours of a delivery stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// The delivery stream's name.
    pub name: String,
    /// The stream's version id (part of Firehose's object names).
    pub version_id: String,
    /// Name of the Kinesis source stream.
    pub source_stream: String,
    /// ARN of the processor Lambda.
    pub lambda_arn: String,
    /// Processor batch size in bytes.
    pub processor_buffer_bytes: usize,
    /// Processor batch interval.
    pub processor_interval: Duration,
    /// Retries of a failed invocation before its records go under the error prefix.
    pub processor_retries: u32,
    /// Destination bucket name.
    pub bucket: String,
    /// Destination key prefix (with namespaces).
    pub prefix: String,
    /// Error key prefix (with namespaces).
    pub error_prefix: String,
    /// Object buffering size in bytes.
    pub buffer_bytes: usize,
    /// Object buffering interval.
    pub buffer_interval: Duration,
    /// Whether objects are gzip-compressed.
    pub gzip: bool,
    /// Whether dynamic partitioning is on (keys from the Lambda's `metadata.partitionKeys`,
    /// at most [`crate::sink::MAX_ACTIVE_PARTITIONS`] open at once).
    pub dynamic_partitioning: bool,
    /// Suffix of object names (`file_extension`, or `.gz` for GZIP without one).
    pub file_extension: String,
}

/// The delivery stream cannot be read or is not shaped as the runner needs.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The API call failed.
    #[error("DescribeDeliveryStream {name}: {reason}")]
    Describe {
        /// The delivery stream.
        name: String,
        /// The client's message.
        reason: String,
    },
    /// The configuration lacks something the local runner needs.
    #[error("delivery stream {name}: {reason}")]
    Unsupported {
        /// The delivery stream.
        name: String,
        /// What is missing.
        reason: String,
    },
}

impl DeliveryConfig {
    /// The transform's options as the Lambda deployed for this stream has them: partition
    /// keys when the stream partitions dynamically (it fails `Ok` records without them), the
    /// rest (per-record gzip included) as given. A warning names a stream that compresses
    /// objects (GZIP) while the transform gzips each record: objects would be compressed
    /// twice, as AWS would do it (deploy the stream UNCOMPRESSED, as Terraform does).
    pub fn transform_options(&self, mut options: TransformOptions) -> TransformOptions {
        options.partition_keys |= self.dynamic_partitioning;
        if self.gzip && options.record_gzip {
            tracing::warn!(
                delivery_stream = self.name,
                "the delivery stream compresses objects (GZIP) and the transform gzips each record (RECO_RECORD_GZIP): objects are compressed twice; set the stream's compression to UNCOMPRESSED"
            );
        }
        options
    }
}

/// The processor batch size in bytes of a `BufferSizeInMBs` value: a number of MB, decimals
/// allowed (Firehose accepts 0.2 to 3); [`DEFAULT_PROCESSOR_BUFFER_MB`] when absent.
pub fn processor_buffer_bytes(value: Option<&str>) -> Result<usize, String> {
    let Some(value) = value else {
        return Ok(DEFAULT_PROCESSOR_BUFFER_MB as usize * 1024 * 1024);
    };
    match value.trim().parse::<f64>() {
        Ok(mb) if mb.is_finite() && mb > 0.0 => Ok((mb * 1024.0 * 1024.0).round() as usize),
        _ => Err(format!(
            "processor parameter BufferSizeInMBs is not a positive number of MB: {value:?}"
        )),
    }
}

/// The last segment of an ARN (`arn:...:bucket`, `arn:...:stream/name`).
fn arn_name(arn: &str) -> &str {
    let tail = arn.rsplit(':').next().unwrap_or(arn);
    tail.rsplit('/').next().unwrap_or(tail)
}

impl DeliveryConfig {
    /// Reads the configuration of delivery stream `name`.
    pub async fn describe(
        client: &aws_sdk_firehose::Client,
        name: &str,
    ) -> Result<Self, DeliveryError> {
        let unsupported = |reason: &str| DeliveryError::Unsupported {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let output = client
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .map_err(|e| DeliveryError::Describe {
                name: name.to_owned(),
                reason: aws_sdk_firehose::error::DisplayErrorContext(e).to_string(),
            })?;
        let description = output
            .delivery_stream_description()
            .ok_or_else(|| unsupported("no description returned"))?;
        let source_arn = description
            .source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn())
            .ok_or_else(|| unsupported("has no Kinesis source"))?;
        let s3 = description
            .destinations()
            .iter()
            .find_map(|d| d.extended_s3_destination_description())
            .ok_or_else(|| unsupported("has no extended S3 destination"))?;
        let processor = s3
            .processing_configuration()
            .filter(|p| p.enabled().unwrap_or(false))
            .and_then(|p| {
                p.processors()
                    .iter()
                    .find(|p| *p.r#type() == ProcessorType::Lambda)
            })
            .ok_or_else(|| unsupported("has no enabled Lambda processor"))?;
        let parameter = |wanted: ProcessorParameterName| {
            processor
                .parameters()
                .iter()
                .find(|p| *p.parameter_name() == wanted)
                .map(|p| p.parameter_value().to_owned())
        };
        let number = |wanted: ProcessorParameterName, default: u32| -> Result<u32, DeliveryError> {
            match parameter(wanted.clone()) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    unsupported(&format!(
                        "processor parameter {wanted} is not a number: {v:?}"
                    ))
                }),
            }
        };
        let lambda_arn = parameter(ProcessorParameterName::LambdaArn)
            .ok_or_else(|| unsupported("Lambda processor has no LambdaArn"))?;
        let hints = s3.buffering_hints();
        let gzip = *s3.compression_format() == CompressionFormat::Gzip;
        if !matches!(
            s3.compression_format(),
            CompressionFormat::Gzip | CompressionFormat::Uncompressed
        ) {
            return Err(unsupported(&format!(
                "compression {} is not supported locally (GZIP or UNCOMPRESSED)",
                s3.compression_format()
            )));
        }
        let file_extension = match s3.file_extension().filter(|e| !e.is_empty()) {
            Some(e) => e.to_owned(),
            None if gzip => ".gz".to_owned(),
            None => String::new(),
        };
        Ok(Self {
            name: name.to_owned(),
            version_id: description.version_id().to_owned(),
            source_stream: arn_name(source_arn).to_owned(),
            lambda_arn,
            processor_buffer_bytes: processor_buffer_bytes(
                parameter(ProcessorParameterName::BufferSizeInMb).as_deref(),
            )
            .map_err(|reason| unsupported(&reason))?,
            processor_interval: Duration::from_secs(u64::from(number(
                ProcessorParameterName::BufferIntervalInSeconds,
                DEFAULT_PROCESSOR_INTERVAL_S,
            )?)),
            processor_retries: number(
                ProcessorParameterName::LambdaNumberOfRetries,
                DEFAULT_PROCESSOR_RETRIES,
            )?,
            bucket: arn_name(s3.bucket_arn()).to_owned(),
            prefix: s3.prefix().unwrap_or_default().to_owned(),
            error_prefix: s3.error_output_prefix().unwrap_or_default().to_owned(),
            buffer_bytes: hints
                .and_then(|h| h.size_in_mbs())
                .map_or(DEFAULT_BUFFER_MB, |v| v as u32) as usize
                * 1024
                * 1024,
            buffer_interval: Duration::from_secs(
                hints
                    .and_then(|h| h.interval_in_seconds())
                    .map_or(u64::from(DEFAULT_BUFFER_INTERVAL_S), |v| v as u64),
            ),
            gzip,
            dynamic_partitioning: s3
                .dynamic_partitioning_configuration()
                .and_then(|d| d.enabled())
                .unwrap_or(false),
            file_extension,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(gzip: bool, dynamic_partitioning: bool) -> DeliveryConfig {
        DeliveryConfig {
            name: "recs".into(),
            version_id: "1".into(),
            source_stream: "clicks".into(),
            lambda_arn: "arn:aws:lambda:us-east-1:1:function:t".into(),
            processor_buffer_bytes: 3 << 20,
            processor_interval: Duration::from_secs(60),
            processor_retries: 3,
            bucket: "b".into(),
            prefix: "recommendations/".into(),
            error_prefix: "errors/".into(),
            buffer_bytes: 64 << 20,
            buffer_interval: Duration::from_secs(300),
            gzip,
            dynamic_partitioning,
            file_extension: ".ndjson.gz".into(),
        }
    }

    #[test]
    fn processor_buffer_sizes_are_numbers_of_mb_with_decimals() {
        assert_eq!(processor_buffer_bytes(None), Ok(1024 * 1024));
        assert_eq!(processor_buffer_bytes(Some("3")), Ok(3 * 1024 * 1024));
        assert_eq!(processor_buffer_bytes(Some("0.2")), Ok(209_715));
        assert_eq!(processor_buffer_bytes(Some("1.5")), Ok(1_572_864));
        for bad in ["", "three", "-1", "0", "NaN"] {
            let err = processor_buffer_bytes(Some(bad)).unwrap_err();
            assert!(err.contains("BufferSizeInMBs"), "{err}");
        }
    }

    #[test]
    fn partition_keys_follow_dynamic_partitioning_and_the_rest_is_kept() {
        let given = TransformOptions {
            knn_k: 7,
            ..TransformOptions::default()
        };
        let deployed = config(false, false).transform_options(given.clone());
        assert_eq!(deployed, given, "as deployed: gzip per record, no keys");
        assert!(deployed.record_gzip && !deployed.partition_keys);
        let partitioned = config(false, true).transform_options(given.clone());
        assert!(partitioned.partition_keys && partitioned.record_gzip);
        assert_eq!(partitioned.knn_k, 7);
        let plain = TransformOptions {
            record_gzip: false,
            ..given
        };
        assert!(!config(true, false).transform_options(plain).record_gzip);
    }
}
