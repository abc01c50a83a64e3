//! What each step reports to CloudWatch (Embedded Metric Format, namespace `reco`, dimension
//! `Service` = the function's service name), built from the step's answer.

use reco_aws::emf::{MetricSet, Unit};

use crate::io::{EtlResponse, LoadResponse, ScoreResponse, TrainResponse};

/// The ETL's metrics.
pub fn etl(answer: &EtlResponse) -> MetricSet {
    let mut m = MetricSet::new("etl");
    m.count("RowsExtracted", answer.rows_read)
        .count("RowsRejected", answer.rejected)
        .count("EventsRead", answer.events_read)
        .count("EventRowsWritten", answer.event_rows)
        .value("EtlSeconds", Unit::Seconds, answer.seconds)
        .property("Snapshot", answer.snapshot.clone());
    m
}

/// The training's metrics, per version.
pub fn train(answer: &TrainResponse) -> MetricSet {
    let mut m = MetricSet::new("train");
    m.value("TrainingSeconds", Unit::Seconds, answer.training_seconds)
        .value("NdcgAt10", Unit::None, answer.ndcg_at_10)
        .value(
            "PopularityNdcgAt10",
            Unit::None,
            answer.popularity_ndcg_at_10,
        )
        .count("ModelAccepted", u64::from(answer.accepted))
        .property("ModelVersion", answer.model_version.clone());
    m
}

/// The embeddings load's metrics.
pub fn load(answer: &LoadResponse) -> MetricSet {
    let mut m = MetricSet::new("load-embeddings");
    m.count("ItemsLoaded", answer.items)
        .count("UsersLoaded", answer.users)
        .value("LoadSeconds", Unit::Seconds, answer.seconds)
        .property("ModelVersion", answer.model_version.clone());
    m
}

/// One shard's metrics.
pub fn score(answer: &ScoreResponse) -> MetricSet {
    let mut m = MetricSet::new("score-all");
    m.count("DocumentsPublished", answer.written)
        .count("DocumentsKept", answer.kept)
        .count("CustomersScored", answer.customers)
        .value("ShardSeconds", Unit::Seconds, answer.seconds)
        .property("Shard", answer.shard.clone());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_version_reports_zero_accepted_with_its_version() {
        let m = train(&TrainResponse {
            model_version: "v9".into(),
            accepted: false,
            reason: "below".into(),
            customers: 3,
            products: 2,
            ndcg_at_10: 0.01,
            popularity_ndcg_at_10: 0.02,
            champion_ndcg_at_10: None,
            training_seconds: 1.5,
            seconds: 2.0,
        });
        assert_eq!(m.service(), "train");
        assert_eq!(m.values("ModelAccepted"), Some(&[0.0][..]));
        assert_eq!(m.values("NdcgAt10"), Some(&[0.01][..]));
        assert_eq!(
            m.property_value("ModelVersion"),
            Some(&serde_json::json!("v9"))
        );
        let shard = score(&ScoreResponse {
            shard: "1/4".into(),
            customers: 10,
            written: 9,
            kept: 1,
            empty: 0,
            seconds: 0.5,
        });
        assert_eq!(shard.values("DocumentsPublished"), Some(&[9.0][..]));
        assert_eq!(shard.values("CustomersScored"), Some(&[10.0][..]));
        let etl = etl(&EtlResponse {
            snapshot: "2026-12-03".into(),
            rows_read: 100,
            rows_written: 130,
            rejected: 2,
            events_read: 500,
            event_rows: 32,
            location: "s3://lake/training/snapshot=2026-12-03/".into(),
            seconds: 1.0,
        });
        assert_eq!(etl.values("EventsRead"), Some(&[500.0][..]));
        assert_eq!(etl.values("EventRowsWritten"), Some(&[32.0][..]));
        assert_eq!(etl.values("RowsRejected"), Some(&[2.0][..]));
    }
}
