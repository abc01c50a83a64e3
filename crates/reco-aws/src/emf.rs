//! CloudWatch Embedded Metric Format (EMF): metrics written as one structured JSON log line
//! that CloudWatch Logs turns into metrics, with no SDK call and no extra permission.
//!
//! One [`MetricSet`] is one EMF document: namespace [`NAMESPACE`], one dimension
//! [`DIMENSION`] whose value is the service (`transform`, `publisher`, ...). The document
//! follows the specification ("Specification: Embedded metric format", CloudWatch user guide):
//!
//! ```json
//! {"_aws":{"Timestamp":1764700000000,"CloudWatchMetrics":[{"Namespace":"reco",
//!   "Dimensions":[["Service"]],"Metrics":[{"Name":"RecordsOk","Unit":"Count"}]}]},
//!  "Service":"transform","RecordsOk":42}
//! ```
//!
//! On Lambda, [`MetricSet::emit`] writes the line to stdout, which Lambda sends to the
//! function's log group, where the metrics are extracted. With the JSON log format, Lambda
//! does not wrap the stdout lines of a custom runtime: a line that is a JSON object reaches
//! the log group as it is. Log-level filtering reads its `level` member, and a line without
//! one counts as INFO: the functions' `application_log_level` must stay at INFO or more
//! detailed, or the metric lines are filtered out with the other INFO lines.
//!
//! Only Lambda binaries call [`MetricSet::emit`]; command-line tools print no EMF.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every reco metric.
pub const NAMESPACE: &str = "reco";

/// The one dimension of every reco metric; its value is the service.
pub const DIMENSION: &str = "Service";

/// Values one metric may carry in a document (EMF specification: a target member's array
/// "MUST NOT contain more than 100 values").
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// Metrics one directive may declare (EMF specification: `Metrics` "MUST NOT contain more
/// than 100 MetricDefinition objects").
pub const MAX_METRICS: usize = 100;

/// The member holding the EMF metadata; reserved at the document's root.
const METADATA_MEMBER: &str = "_aws";

/// The unit of a metric (a subset of CloudWatch's `StandardUnit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
    /// A duration in seconds.
    Seconds,
    /// A plain number (a ratio, a score).
    None,
}

impl Unit {
    /// The unit's name as CloudWatch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone)]
struct Metric {
    name: String,
    unit: Unit,
    values: Vec<f64>,
    /// Whether a value past [`MAX_VALUES_PER_METRIC`] was dropped (warned once).
    truncated: bool,
}

/// One EMF document: the metrics of one invocation of one service.
#[derive(Debug, Clone)]
pub struct MetricSet {
    service: String,
    metrics: Vec<Metric>,
    properties: BTreeMap<String, Value>,
}

impl MetricSet {
    /// An empty set for `service` (the value of the [`DIMENSION`] dimension).
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            metrics: Vec::new(),
            properties: BTreeMap::new(),
        }
    }

    /// The service this set reports for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Adds a [`Unit::Count`] value.
    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        // Counts of one invocation are far below 2^53: the conversion is exact.
        self.value(name, Unit::Count, value as f64)
    }

    /// Adds a value of metric `name`. A repeated name collects its values (up to
    /// [`MAX_VALUES_PER_METRIC`]; later ones are dropped with one warning) and keeps the unit
    /// it was first given. NaN and infinities are dropped with a warning (JSON has no such
    /// numbers), as is a name that is empty or reserved (`_aws`, `Service`).
    pub fn value(&mut self, name: &str, unit: Unit, value: f64) -> &mut Self {
        if !value.is_finite() {
            tracing::warn!(metric = name, value = %value, "metric value is not a finite number; not emitted");
            return self;
        }
        if name.is_empty() || name == METADATA_MEMBER || name == DIMENSION {
            tracing::warn!(
                metric = name,
                "metric name is empty or reserved; not emitted"
            );
            return self;
        }
        if let Some(metric) = self.metrics.iter_mut().find(|m| m.name == name) {
            if metric.unit != unit {
                tracing::warn!(
                    metric = name,
                    first = metric.unit.as_str(),
                    given = unit.as_str(),
                    "metric given two units; the first is kept"
                );
            }
            if metric.values.len() < MAX_VALUES_PER_METRIC {
                metric.values.push(value);
            } else if !metric.truncated {
                metric.truncated = true;
                tracing::warn!(
                    metric = name,
                    limit = MAX_VALUES_PER_METRIC,
                    "metric has more values than one EMF document carries; the rest are dropped"
                );
            }
        } else if self.metrics.len() < MAX_METRICS {
            self.metrics.push(Metric {
                name: name.to_owned(),
                unit,
                values: vec![value],
                truncated: false,
            });
        } else {
            tracing::warn!(
                metric = name,
                limit = MAX_METRICS,
                "more metrics than one EMF document declares; not emitted"
            );
        }
        self
    }

    /// Adds a property: a member of the document that is searchable in CloudWatch Logs
    /// Insights but is not a metric or a dimension (for example a model version). A metric
    /// of the same name takes its place; a reserved name (`_aws`, `Service`) is dropped.
    pub fn property(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        if name == METADATA_MEMBER || name == DIMENSION {
            tracing::warn!(property = name, "property name is reserved; not emitted");
            return self;
        }
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// Whether no metric value was added (properties alone make no metric).
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The values of metric `name`, in the order they were added.
    pub fn values(&self, name: &str) -> Option<&[f64]> {
        self.metric(name).map(|m| m.values.as_slice())
    }

    /// The unit of metric `name`.
    pub fn unit(&self, name: &str) -> Option<Unit> {
        self.metric(name).map(|m| m.unit)
    }

    /// The property `name`.
    pub fn property_value(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }

    fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The document as one JSON line (no trailing newline), stamped `timestamp_ms`
    /// (milliseconds since the Unix epoch).
    pub fn to_line(&self, timestamp_ms: i64) -> String {
        let mut root = Map::new();
        for (name, value) in &self.properties {
            root.insert(name.clone(), value.clone());
        }
        root.insert(DIMENSION.to_owned(), Value::from(self.service.clone()));
        let mut definitions = Vec::with_capacity(self.metrics.len());
        for metric in &self.metrics {
            definitions.push(json!({"Name": metric.name, "Unit": metric.unit.as_str()}));
            let value = match metric.values.as_slice() {
                [one] => number(*one),
                many => Value::Array(many.iter().copied().map(number).collect()),
            };
            root.insert(metric.name.clone(), value);
        }
        root.insert(
            METADATA_MEMBER.to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root).to_string()
    }

    /// Writes the document, stamped now, to stdout as one line in one locked write, so that
    /// log lines written at the same time never split it. Does nothing when the set is
    /// empty. Only Lambda binaries call this.
    pub fn emit(&self) {
        if self.is_empty() {
            return;
        }
        let mut line = self.to_line(now_ms());
        line.push('\n');
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
        {
            tracing::warn!(%error, service = %self.service, "metrics not written to stdout");
        }
    }
}

/// A finite value as a JSON number: whole numbers without a fractional part.
fn number(value: f64) -> Value {
    // 2^53: above it an f64 no longer holds every integer, so it stays a float.
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_LIMIT {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(set: &MetricSet) -> Value {
        let line = set.to_line(1_764_700_000_123);
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn the_document_follows_the_emf_specification() {
        let mut set = MetricSet::new("transform");
        set.count("RecordsOk", 42)
            .value("KnnMilliseconds", Unit::Milliseconds, 12.5)
            .value("NdcgAt10", Unit::None, 0.25)
            .value("EtlSeconds", Unit::Seconds, 3.0)
            .property("ModelVersion", "v-20261202");
        let doc = parse(&set);
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(1_764_700_000_123_i64));
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = directives[0].as_object().unwrap();
        let mut keys: Vec<&str> = directive.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["Dimensions", "Metrics", "Namespace"]);
        assert_eq!(directive["Namespace"], "reco");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "RecordsOk", "Unit": "Count"},
                {"Name": "KnnMilliseconds", "Unit": "Milliseconds"},
                {"Name": "NdcgAt10", "Unit": "None"},
                {"Name": "EtlSeconds", "Unit": "Seconds"},
            ])
        );
        // Every referenced member is at the root: the dimension value and each metric's value.
        assert_eq!(doc["Service"], "transform");
        assert_eq!(doc["RecordsOk"], json!(42));
        assert_eq!(doc["KnnMilliseconds"], json!(12.5));
        assert_eq!(doc["NdcgAt10"], json!(0.25));
        assert_eq!(doc["EtlSeconds"], json!(3));
        assert_eq!(doc["ModelVersion"], "v-20261202");
        assert_eq!(doc.as_object().unwrap().len(), 7);
    }

    #[test]
    fn repeated_values_collect_up_to_the_emf_limit() {
        let mut set = MetricSet::new("transform");
        for i in 0..(MAX_VALUES_PER_METRIC + 5) {
            set.value("KnnMilliseconds", Unit::Milliseconds, i as f64);
        }
        // A second unit for the same name keeps the first.
        set.value("KnnMilliseconds", Unit::Seconds, 1.0);
        assert_eq!(
            set.values("KnnMilliseconds").unwrap().len(),
            MAX_VALUES_PER_METRIC
        );
        assert_eq!(set.unit("KnnMilliseconds"), Some(Unit::Milliseconds));
        let doc = parse(&set);
        let values = doc["KnnMilliseconds"].as_array().unwrap();
        assert_eq!(values.len(), MAX_VALUES_PER_METRIC);
        assert_eq!(values[0], json!(0));
        assert_eq!(values[99], json!(99));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "one definition per name"
        );
    }

    #[test]
    fn non_finite_values_and_reserved_names_are_never_emitted() {
        let mut set = MetricSet::new("publisher");
        set.value("FreshnessSeconds", Unit::Seconds, f64::NAN)
            .value("FreshnessSeconds", Unit::Seconds, f64::INFINITY)
            .value("Service", Unit::Count, 1.0)
            .value("_aws", Unit::Count, 1.0)
            .value("", Unit::Count, 1.0)
            .property("Service", "other")
            .property("_aws", "x");
        assert!(set.is_empty());
        set.value("FreshnessSeconds", Unit::Seconds, f64::NEG_INFINITY)
            .value("FreshnessSeconds", Unit::Seconds, 2.5);
        let line = set.to_line(0);
        assert!(!line.contains("NaN") && !line.contains("inf"), "{line}");
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["FreshnessSeconds"], json!(2.5));
        assert_eq!(doc["Service"], "publisher");
        assert!(doc["_aws"].is_object());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "FreshnessSeconds", "Unit": "Seconds"}])
        );
    }

    #[test]
    fn a_metric_takes_the_place_of_a_property_of_its_name() {
        let mut set = MetricSet::new("train");
        set.property("ModelAccepted", "yes")
            .count("ModelAccepted", 1);
        let doc = parse(&set);
        assert_eq!(doc["ModelAccepted"], json!(1));
    }

    #[test]
    fn large_and_fractional_values_keep_their_precision() {
        assert_eq!(number(3.0), json!(3));
        assert_eq!(number(-2.0), json!(-2));
        assert_eq!(number(0.1), json!(0.1));
        assert_eq!(number(1e20), json!(1e20));
    }

    #[test]
    fn an_empty_set_emits_nothing_but_still_renders() {
        let mut set = MetricSet::new("etl");
        set.property("Snapshot", "2026-12-02");
        assert!(set.is_empty());
        // emit() is a no-op here (nothing written); the document itself stays valid.
        set.emit();
        let doc = parse(&set);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([]));
    }
}
