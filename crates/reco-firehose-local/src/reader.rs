//! Reading recommendations back as a front end does: the delivery stream partitions objects
//! by customer (`<prefix>customer=<n>/yyyy/MM/dd/HH/`), so a customer's newest objects are a
//! prefix listing, never a scan of the bucket.

use std::io::Read as _;

use reco_domain::recommendation::RecommendationRecord;

/// The destination prefix the streaming-inference module deploys (its `recommendations_prefix`).
pub const DEFAULT_RECOMMENDATIONS_PREFIX: &str = "recommendations/";

/// The newest recommendation of a customer and the object it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRecommendation {
    /// Key of the object.
    pub key: String,
    /// The record.
    pub record: RecommendationRecord,
}

/// Reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Listing or reading S3 failed.
    #[error("s3://{bucket}/{key}: {reason}")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The client's message.
        reason: String,
    },
    /// An object holds a line that is not a recommendation record.
    #[error("s3://{bucket}/{key} line {line}: {reason}")]
    Malformed {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        reason: String,
    },
}

/// The key prefix of one customer's objects.
pub fn customer_prefix(recommendations_prefix: &str, customer_number: i64) -> String {
    let mut prefix = recommendations_prefix.to_owned();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    format!("{prefix}customer={customer_number}/")
}

/// The customer's newest recommendation (latest `generated_at` in the newest object), if any.
pub async fn latest_recommendation(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    recommendations_prefix: &str,
    customer_number: i64,
) -> Result<Option<LatestRecommendation>, ReadError> {
    let prefix = customer_prefix(recommendations_prefix, customer_number);
    let s3_error = |key: &str, reason: String| ReadError::S3 {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    // Newest object: latest modification time, then the greatest key (names embed the time).
    let mut newest: Option<(i64, String)> = None;
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            s3_error(
                &prefix,
                aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            )
        })?;
        for object in page.contents() {
            let (Some(key), modified) = (object.key(), object.last_modified()) else {
                continue;
            };
            let candidate = (
                modified.map_or(0, |t| t.to_millis().unwrap_or(0)),
                key.to_owned(),
            );
            if newest.as_ref().is_none_or(|n| candidate > *n) {
                newest = Some(candidate);
            }
        }
    }
    let Some((_, key)) = newest else {
        return Ok(None);
    };
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| s3_error(&key, aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| s3_error(&key, e.to_string()))?
        .into_bytes();
    let text = if key.ends_with(".gz") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_ref())
            .read_to_end(&mut text)
            .map_err(|e| s3_error(&key, format!("gunzip: {e}")))?;
        text
    } else {
        bytes.to_vec()
    };
    let mut latest: Option<RecommendationRecord> = None;
    for (index, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: RecommendationRecord =
            serde_json::from_slice(line).map_err(|e| ReadError::Malformed {
                bucket: bucket.to_owned(),
                key: key.clone(),
                line: index + 1,
                reason: e.to_string(),
            })?;
        if record.event.customer_number == customer_number
            && latest
                .as_ref()
                .is_none_or(|l| record.generated_at >= l.generated_at)
        {
            latest = Some(record);
        }
    }
    Ok(latest.map(|record| LatestRecommendation { key, record }))
}
