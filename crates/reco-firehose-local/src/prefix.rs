//! Firehose's S3 key namespaces, expanded the way the service expands them:
//! `!{timestamp:<Java date format>}`, `!{firehose:error-output-type}`,
//! `!{firehose:random-string}` and `!{partitionKeyFromLambda:<key>}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A prefix that names a namespace Firehose does not support, or a missing partition key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// `!{...}` with an unknown namespace or an unclosed brace.
    #[error("prefix {prefix:?}: unsupported expression {expression:?}")]
    Unsupported {
        /// The whole prefix.
        prefix: String,
        /// The expression.
        expression: String,
    },
    /// `!{partitionKeyFromLambda:k}` but the record carries no key `k`.
    #[error("prefix {prefix:?} needs partition key {key:?}, which the record does not carry")]
    MissingKey {
        /// The whole prefix.
        prefix: String,
        /// The key.
        key: String,
    },
}

/// What a prefix is expanded with.
#[derive(Debug, Clone)]
pub struct PrefixValues<'a> {
    /// Time for `!{timestamp:...}` (UTC, as Firehose uses).
    pub time: DateTime<Utc>,
    /// Partition keys returned by the Lambda.
    pub partition_keys: &'a BTreeMap<String, String>,
    /// `!{firehose:error-output-type}`, for error prefixes.
    pub error_output_type: Option<&'a str>,
    /// `!{firehose:random-string}`.
    pub random: &'a str,
}

/// Expands every namespace of `prefix`.
pub fn expand(prefix: &str, values: &PrefixValues<'_>) -> Result<String, PrefixError> {
    let mut out = String::with_capacity(prefix.len() + 32);
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let unsupported = |expression: &str| PrefixError::Unsupported {
            prefix: prefix.to_owned(),
            expression: expression.to_owned(),
        };
        let end = after.find('}').ok_or_else(|| unsupported(&rest[start..]))?;
        let expression = &after[..end];
        match expression.split_once(':') {
            Some(("timestamp", format)) => out.push_str(&format_time(&values.time, format)),
            Some(("partitionKeyFromLambda", key)) => {
                let value =
                    values
                        .partition_keys
                        .get(key)
                        .ok_or_else(|| PrefixError::MissingKey {
                            prefix: prefix.to_owned(),
                            key: key.to_owned(),
                        })?;
                out.push_str(value);
            }
            Some(("firehose", "error-output-type")) => out.push_str(
                values
                    .error_output_type
                    .ok_or_else(|| unsupported(expression))?,
            ),
            Some(("firehose", "random-string")) => out.push_str(values.random),
            _ => return Err(unsupported(expression)),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `time` formatted with a Java `DateTimeFormatter` pattern, the subset Firehose prefixes
/// use: years, months, days, hours, minutes and seconds; other characters are copied.
pub fn format_time(time: &DateTime<Utc>, pattern: &str) -> String {
    time.format(&strftime(pattern)).to_string()
}

/// The chrono (strftime) equivalent of a Java date pattern: a run of one letter is one field,
/// its length the width (`M` 2, `MM` 02, `MMM` Feb, `MMMM` February; `yy` 24, `yyyy` 2024).
fn strftime(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        let padded = |field: char| {
            if run == 1 {
                format!("%-{field}")
            } else {
                format!("%{field}")
            }
        };
        match c {
            'y' if run == 2 => out.push_str("%y"),
            'y' => out.push_str("%Y"),
            'M' if run == 3 => out.push_str("%b"),
            'M' if run >= 4 => out.push_str("%B"),
            'M' => out.push_str(&padded('m')),
            'd' => out.push_str(&padded('d')),
            'H' => out.push_str(&padded('H')),
            'm' => out.push_str(&padded('M')),
            's' => out.push_str(&padded('S')),
            '%' => (0..run).for_each(|_| out.push_str("%%")),
            other => (0..run).for_each(|_| out.push(other)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployed_prefixes_expand_like_firehose() {
        let mut keys = BTreeMap::new();
        keys.insert("customer_number".to_owned(), "103".to_owned());
        let values = PrefixValues {
            time: DateTime::from_timestamp_millis(1_709_251_199_999).unwrap(),
            partition_keys: &keys,
            error_output_type: Some("processing-failed"),
            random: "abc",
        };
        assert_eq!(
            expand(
                "recommendations/customer=!{partitionKeyFromLambda:customer_number}/!{timestamp:yyyy/MM/dd/HH}/",
                &values
            )
            .unwrap(),
            "recommendations/customer=103/2024/02/29/23/"
        );
        assert_eq!(
            expand(
                "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
                &values
            )
            .unwrap(),
            "errors/processing-failed/2024/02/29/"
        );
        let missing = expand("x/!{partitionKeyFromLambda:other}/", &values).unwrap_err();
        assert!(matches!(missing, PrefixError::MissingKey { ref key, .. } if key == "other"));
        assert!(expand("x/!{nope:1}/", &values).is_err());
        assert!(expand("x/!{timestamp:yyyy", &values).is_err());
    }

    #[test]
    fn java_patterns_format_like_java() {
        let time = DateTime::from_timestamp_millis(1_704_078_245_000).unwrap(); // 2024-01-01T03:04:05Z
        assert_eq!(
            format_time(&time, "yyyy-MM-dd-HH-mm-ss"),
            "2024-01-01-03-04-05"
        );
        assert_eq!(format_time(&time, "yy/M/d/H:m:s"), "24/1/1/3:4:5");
        assert_eq!(
            format_time(&time, "dd MMM yyyy, MMMM"),
            "01 Jan 2024, January"
        );
        assert_eq!(format_time(&time, "100%_HH"), "100%_03");
    }
}
