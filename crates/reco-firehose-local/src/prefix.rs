//! Firehose's S3 key namespaces, expanded the way the service expands them:
//! `!{timestamp:<Java date format>}`, `!{firehose:error-output-type}`,
//! `!{firehose:random-string}` and `!{partitionKeyFromLambda:<key>}`.

use std::collections::BTreeMap;

use reco_domain::recommendation::UtcDateTime;

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
    /// Time for `!{timestamp:...}`.
    pub time: UtcDateTime,
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

/// The subset of Java's `DateTimeFormatter` patterns Firehose prefixes use.
pub fn format_time(time: &UtcDateTime, format: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        match c {
            'y' if run == 2 => out.push_str(&format!("{:02}", time.year.rem_euclid(100))),
            'y' => out.push_str(&format!("{:04}", time.year)),
            'M' => out.push_str(&format!("{:0run$}", time.month)),
            'd' => out.push_str(&format!("{:0run$}", time.day)),
            'H' => out.push_str(&format!("{:0run$}", time.hour)),
            'm' => out.push_str(&format!("{:0run$}", time.minute)),
            's' => out.push_str(&format!("{:0run$}", time.second)),
            other => (0..run).for_each(|_| out.push(other)),
        }
        i += run;
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
            time: UtcDateTime::from_unix_millis(1_709_251_199_999),
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
}
