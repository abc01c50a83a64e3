//! What each step is sent and answers: the Lambda payloads on AWS, the same values in the
//! local runner. Requests are built by [`crate::steps`]' inputs; answers are serialised to
//! JSON and the fields named in `keep` go into the loop's state.

use serde::{Deserialize, Serialize};

/// One step's request; `step` names it (the JSON is `{"step": "train", "snapshot": ..}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Snapshot the source database (today, UTC, unless `snapshot` is given).
    Etl {
        /// Snapshot date (YYYY-MM-DD); default today.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<String>,
    },
    /// Train on a snapshot; the version is written, `LATEST` is not moved.
    Train {
        /// Snapshot date to train on.
        snapshot: String,
    },
    /// Load a version's embeddings into pgvector and swap them in.
    Load {
        /// The model version.
        model_version: String,
    },
    /// Split the version's customers into shards.
    Plan {
        /// The model version.
        model_version: String,
        /// Customers per shard.
        customers_per_shard: u64,
        /// Most shards (more customers make bigger shards).
        max_shards: u32,
    },
    /// Score one shard.
    Score(ShardRequest),
    /// Make the version live (`LATEST`).
    Publish {
        /// The model version.
        model_version: String,
    },
    /// Create or update the least-privilege database roles and their secrets, as the master
    /// users (not a step of the daily loop: Terraform invokes it after each apply).
    Migrate {
        /// New passwords for every role.
        #[serde(default)]
        rotate: bool,
    },
}

impl Request {
    /// The step's name (`etl`, `train`, ...).
    pub fn step(&self) -> &'static str {
        match self {
            Self::Etl { .. } => "etl",
            Self::Train { .. } => "train",
            Self::Load { .. } => "load",
            Self::Plan { .. } => "plan",
            Self::Score(_) => "score",
            Self::Publish { .. } => "publish",
            Self::Migrate { .. } => "migrate",
        }
    }
}

/// One shard of a score-all run; every shard of a run has the same version and start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRequest {
    /// The model version.
    pub model_version: String,
    /// Shard index, `0..count`.
    pub index: u32,
    /// Shard count.
    pub count: u32,
    /// The run's start, every document's `generated_at` (RFC 3339 UTC, milliseconds).
    pub generated_at: String,
}

/// The ETL's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtlResponse {
    /// The snapshot written.
    pub snapshot: String,
    /// Ratings read.
    pub rows_read: u64,
    /// Training rows written.
    pub rows_written: u64,
    /// Ratings that could not be joined.
    pub rejected: u64,
    /// Click events read from the data lake's lookback window (0 with events turned off).
    #[serde(default)]
    pub events_read: u64,
    /// `events` training rows written: customer x product pairs weighted from those events.
    #[serde(default)]
    pub event_rows: u64,
    /// Where the snapshot is.
    pub location: String,
    /// Seconds.
    pub seconds: f64,
}

/// The training's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResponse {
    /// The version written.
    pub model_version: String,
    /// Whether the quality gate accepted it.
    pub accepted: bool,
    /// The gate's reason.
    pub reason: String,
    /// Customers with a user embedding.
    pub customers: u64,
    /// Products with an item embedding.
    pub products: u64,
    /// Held-out nDCG@10 of the model.
    pub ndcg_at_10: f64,
    /// Held-out nDCG@10 of most-popular.
    pub popularity_ndcg_at_10: f64,
    /// Held-out nDCG@10 of the live version on the same split (its settings re-fitted, what
    /// the gate compares with; its artifact as is when it cannot be re-fitted), when scored.
    #[serde(default)]
    pub champion_ndcg_at_10: Option<f64>,
    /// Seconds fitting the full model.
    pub training_seconds: f64,
    /// Seconds in all.
    pub seconds: f64,
}

/// The embeddings load's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadResponse {
    /// The version loaded.
    pub model_version: String,
    /// pgvector's name of the loaded tables.
    pub embedding_version: String,
    /// Item rows.
    pub items: u64,
    /// User rows.
    pub users: u64,
    /// Seconds.
    pub seconds: f64,
}

/// The shard plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanResponse {
    /// Customers with a user embedding in the version.
    pub customers: u64,
    /// Shards.
    pub shard_count: u32,
    /// One score request per shard.
    pub shards: Vec<Request>,
}

/// One shard's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreResponse {
    /// The shard, `I/N`.
    pub shard: String,
    /// Customers of the shard.
    pub customers: u64,
    /// Documents written.
    pub written: u64,
    /// Documents kept (the stored one was as new or newer).
    pub kept: u64,
    /// Customers without a document (zero embedding, or every item rated).
    pub empty: u64,
    /// Seconds.
    pub seconds: f64,
}

/// The publish step's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The live version now.
    pub model_version: String,
    /// The one before (`None` for the first).
    pub previous: Option<String>,
}

/// The migration's answer: one line per role (no password, only what was done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateResponse {
    /// Every role migrated, PostgreSQL's first.
    pub roles: Vec<MigratedRole>,
}

/// One role after the migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigratedRole {
    /// Role or user name.
    pub role: String,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// `kept`, `set`, `rotated` or `resumed`.
    pub password: String,
    /// The secret holding its credentials.
    pub secret: String,
}

/// The plan for `customers`: ceil(customers / per shard) shards, at least one, at most
/// `max_shards`.
pub fn shard_count(customers: u64, customers_per_shard: u64, max_shards: u32) -> u32 {
    let per = customers_per_shard.max(1);
    let wanted = customers.div_ceil(per).max(1);
    wanted.min(u64::from(max_shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_tagged_by_step_and_refuse_unknown_fields() {
        let r: Request =
            serde_json::from_value(json!({"step": "train", "snapshot": "2026-12-02"})).unwrap();
        assert_eq!(
            r,
            Request::Train {
                snapshot: "2026-12-02".into()
            }
        );
        assert_eq!(r.step(), "train");
        let shard = Request::Score(ShardRequest {
            model_version: "v1".into(),
            index: 1,
            count: 4,
            generated_at: "2026-12-02T02:00:00.000Z".into(),
        });
        let value = serde_json::to_value(&shard).unwrap();
        assert_eq!(value["step"], "score");
        assert_eq!(value["index"], 1);
        assert_eq!(serde_json::from_value::<Request>(value).unwrap(), shard);
        assert_eq!(
            serde_json::from_value::<Request>(json!({"step": "etl"})).unwrap(),
            Request::Etl { snapshot: None }
        );
        assert!(
            serde_json::from_value::<Request>(
                json!({"step": "load", "model_version": "v", "x": 1})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<Request>(json!({"step": "dance"})).is_err());
        assert_eq!(
            serde_json::from_value::<Request>(json!({"step": "migrate"})).unwrap(),
            Request::Migrate { rotate: false }
        );
        let rotate = Request::Migrate { rotate: true };
        assert_eq!(rotate.step(), "migrate");
        assert_eq!(
            serde_json::to_value(&rotate).unwrap(),
            json!({"step": "migrate", "rotate": true})
        );
    }

    #[test]
    fn shards_cover_the_customers_within_the_bounds() {
        assert_eq!(shard_count(0, 100, 10), 1);
        assert_eq!(shard_count(100, 100, 10), 1);
        assert_eq!(shard_count(101, 100, 10), 2);
        assert_eq!(shard_count(5_000_000, 100_000, 1000), 50);
        assert_eq!(shard_count(5_000_000, 1_000, 1000), 1000);
        assert_eq!(shard_count(10, 0, 0), 1);
    }
}
