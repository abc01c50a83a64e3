//! Tuning of the store: pool size, HNSW search breadth, timeouts. Every default is named here.

use std::time::Duration;

use crate::StoreError;

/// Default number of neighbours per request (`RECO_KNN_K`): ten items fit a recommendation row.
pub const DEFAULT_KNN_K: usize = reco_domain::transform::DEFAULT_KNN_K;

/// Default HNSW `ef_search` (`RECO_EF_SEARCH`): the smallest of 40/100/200 that reached
/// recall@10 >= 0.95 in `bench/vector-store` on 1M x 32 clustered items (0.932 / 0.948 /
/// 0.965; p50 2.3 / 2.7 / 3.1 ms per single query).
pub const DEFAULT_EF_SEARCH: u32 = 200;

/// pgvector's valid range of `hnsw.ef_search` (pgvector 0.8 `hnsw.c`: 1..1000).
pub const EF_SEARCH_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

/// Largest `k` accepted per request: pgvector's iterative scans stop at
/// `hnsw.max_scan_tuples` (20,000 by default), far above any recommendation list.
pub const MAX_K: usize = 1000;

/// Lambda pool: one invocation handles one Firehose batch at a time, so two connections
/// (metadata + k-NN) suffice and keep RDS connection counts low under Lambda concurrency.
const LAMBDA_MAX_CONNECTIONS: u32 = 2;
/// Lambda statement timeout: well inside Firehose's 5-minute transform invocation limit.
const LAMBDA_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Lambda acquire timeout: fail fast and let Firehose retry rather than hang.
const LAMBDA_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// CLI pool: loads use one connection, queries and the benchmark a few more.
const CLI_MAX_CONNECTIONS: u32 = 4;
/// CLI acquire timeout: an operator's command may wait for a busy database.
const CLI_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Statements a large k-NN batch is split into, run at once on as many pooled connections
/// (`RECO_KNN_PARALLELISM`): PostgreSQL runs one statement's index scans on one core, so a
/// 500-vector batch over 1M items takes ~700 ms as one statement on this 2-core machine and
/// about half as two (`make bench BENCH=vector-store`). Every part is sent at once: the batch
/// still costs one round trip of latency.
pub const DEFAULT_KNN_PARALLELISM: u32 = 2;

/// Smallest part of a split batch: below this, one more connection is not worth it.
pub const KNN_PART_MIN_REQUESTS: usize = 32;

/// Options of a [`crate::VectorStore`]: connection pool and query tuning.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Maximum connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a free connection (or a new one) before failing as unavailable.
    pub acquire_timeout: Duration,
    /// HNSW `ef_search`: candidates kept per search; higher is slower and more exact.
    pub ef_search: u32,
    /// Server-side statement timeout of queries (`None`: no limit). Loads lift it.
    pub statement_timeout: Option<Duration>,
    /// Statements a large k-NN batch is split into (at most `max_connections`); 1 keeps
    /// every batch one statement.
    pub knn_parallelism: u32,
}

impl StoreOptions {
    /// A small pool for the transform Lambda.
    pub fn for_lambda() -> Self {
        Self {
            max_connections: LAMBDA_MAX_CONNECTIONS,
            acquire_timeout: LAMBDA_ACQUIRE_TIMEOUT,
            ef_search: DEFAULT_EF_SEARCH,
            statement_timeout: Some(LAMBDA_STATEMENT_TIMEOUT),
            knn_parallelism: DEFAULT_KNN_PARALLELISM,
        }
    }

    /// A pool for the `reco` CLI (loads, queries, benchmarks).
    pub fn for_cli() -> Self {
        Self {
            max_connections: CLI_MAX_CONNECTIONS,
            acquire_timeout: CLI_ACQUIRE_TIMEOUT,
            ef_search: DEFAULT_EF_SEARCH,
            statement_timeout: None,
            knn_parallelism: DEFAULT_KNN_PARALLELISM,
        }
    }

    /// These options with the query tuning a binary read from its configuration
    /// (`RECO_EF_SEARCH`, `RECO_KNN_PARALLELISM`), checked by [`StoreOptions::validate`].
    pub fn with_tuning(mut self, ef_search: u32, knn_parallelism: u32) -> Result<Self, StoreError> {
        self.ef_search = ef_search;
        self.knn_parallelism = knn_parallelism;
        self.validate()?;
        Ok(self)
    }

    /// Checks the values against pgvector's limits.
    pub fn validate(&self) -> Result<(), StoreError> {
        if !EF_SEARCH_RANGE.contains(&self.ef_search) {
            return Err(StoreError::Config {
                reason: format!(
                    "ef_search {} is outside pgvector's range {}..={}",
                    self.ef_search,
                    EF_SEARCH_RANGE.start(),
                    EF_SEARCH_RANGE.end()
                ),
            });
        }
        if self.max_connections == 0 {
            return Err(StoreError::Config {
                reason: "max_connections must be at least 1".to_owned(),
            });
        }
        if self.knn_parallelism == 0 || self.knn_parallelism > self.max_connections {
            return Err(StoreError::Config {
                reason: format!(
                    "k-NN parallelism {} must be within 1..={} (the pool size)",
                    self.knn_parallelism, self.max_connections
                ),
            });
        }
        Ok(())
    }

    /// Session settings every query connection carries: the HNSW search breadth, iterative
    /// index scans (so filtered searches still return k rows), and the statement timeout.
    pub(crate) fn session_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("hnsw.ef_search", self.ef_search.to_string()),
            ("hnsw.iterative_scan", "relaxed_order".to_owned()),
        ];
        if let Some(timeout) = self.statement_timeout {
            settings.push(("statement_timeout", format!("{}", timeout.as_millis())));
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_is_checked_against_pgvector_and_the_pool() {
        assert_eq!(StoreOptions::for_lambda().ef_search, DEFAULT_EF_SEARCH);
        assert_eq!(
            StoreOptions::for_cli()
                .with_tuning(40, 2)
                .unwrap()
                .ef_search,
            40
        );
        let err = StoreOptions::for_cli()
            .with_tuning(5000, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ef_search 5000"), "{err}");
        let options = StoreOptions::for_lambda().with_tuning(200, 1).unwrap();
        assert_eq!(options.knn_parallelism, 1);
        let err = StoreOptions::for_lambda()
            .with_tuning(200, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("parallelism 3 must be within 1..=2"), "{err}");
        assert!(StoreOptions::for_cli().with_tuning(0, 1).is_err());
    }

    #[test]
    fn lambda_pool_is_smaller_than_cli_pool_and_has_a_timeout() {
        let lambda = StoreOptions::for_lambda();
        let cli = StoreOptions::for_cli();
        assert!(lambda.max_connections < cli.max_connections);
        assert!(
            lambda
                .session_settings()
                .iter()
                .any(|(k, _)| *k == "statement_timeout")
        );
        assert!(
            cli.session_settings()
                .contains(&("hnsw.iterative_scan", "relaxed_order".to_owned()))
        );
    }
}
