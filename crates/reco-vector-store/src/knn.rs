//! Batched k-NN: many query vectors (and "similar to these items" requests) answered by ONE
//! SQL statement, each sub-query an HNSW index scan.
//!
//! The batch is sent as parallel arrays: the query vectors (`NULL` for item-to-item
//! requests), `(request, item id)` pairs of seed items and of excluded items. The statement
//! unnests them with ordinality and runs, per request, a `LATERAL` subquery
//! `ORDER BY embedding <=> q LIMIT k` that PostgreSQL serves with the HNSW index. Exclusions are
//! a filter on that index scan; pgvector's iterative scan (`hnsw.iterative_scan =
//! relaxed_order`) keeps scanning until k rows pass it, so a selective exclusion still yields k.

use pgvector::Vector;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::options::{KNN_PART_MIN_REQUESTS, MAX_K};
use crate::schema::{ITEM_VIEW, is_embedding_version, item_table};
use crate::{StoreError, VectorStore};

/// Largest query vector pgvector accepts (`VECTOR_MAX_DIM` in pgvector's `vector.h`).
pub const MAX_VECTOR_DIM: usize = 16_000;

/// Longest item id sent in a query, in bytes: item ids are `varchar` without a length, so
/// PostgreSQL's only bound is its 1 GB limit on one field value ("Appendix K. PostgreSQL
/// Limits"); events already cap product codes far below it.
pub const MAX_ITEM_ID_BYTES: usize = (1 << 30) - 1;

/// Whether the database accepts `request` against embeddings of dimension `dim`, checked
/// before sending it so that one bad request does not fail the batch it is in. `Err` names
/// what is wrong, never the values: an item id holding a NUL byte (PostgreSQL text cannot,
/// SQLSTATE 22021) or longer than [`MAX_ITEM_ID_BYTES`]; a query vector of another dimension
/// (pgvector: 22000 "different vector dimensions"), empty, longer than [`MAX_VECTOR_DIM`] or
/// with a NaN or infinite element (pgvector rejects those, class 22).
pub fn validate_request(request: &KnnRequest, dim: usize) -> Result<(), String> {
    let (ids, exclude) = match request {
        KnnRequest::ByVector { vector, exclude } => {
            if vector.is_empty() || vector.len() > MAX_VECTOR_DIM {
                return Err(format!(
                    "query vector has dimension {}, pgvector takes 1..={MAX_VECTOR_DIM}",
                    vector.len()
                ));
            }
            if vector.len() != dim {
                return Err(format!(
                    "query vector has dimension {}, the embeddings {dim}",
                    vector.len()
                ));
            }
            if let Some(bad) = vector.iter().position(|v| !v.is_finite()) {
                return Err(format!("query vector element {bad} is not finite"));
            }
            (&[][..], exclude)
        }
        KnnRequest::SimilarTo { item_ids, exclude } => (&item_ids[..], exclude),
    };
    for (what, list) in [("item id", ids), ("excluded item id", exclude)] {
        for (at, id) in list.iter().enumerate() {
            if id.contains('\0') {
                return Err(format!("{what} {at} contains a NUL byte"));
            }
            if id.len() > MAX_ITEM_ID_BYTES {
                return Err(format!(
                    "{what} {at} is longer than {MAX_ITEM_ID_BYTES} bytes"
                ));
            }
        }
    }
    Ok(())
}

/// One k-NN request of a batch: the domain's query type, answered here as it is.
///
/// - `ByVector { vector, exclude }`: items nearest to `vector` (e.g. a customer's embedding),
///   minus `exclude`; the vector's dimension must be the loaded embeddings'.
/// - `SimilarTo { item_ids, exclude }`: items nearest to the centroid of the given items'
///   (L2-normalised) embeddings, minus the given items and `exclude`. Unknown ids are ignored;
///   none known gives an empty result.
pub use reco_domain::transform::KnnQuery as KnnRequest;

/// One neighbour: an item id and its cosine similarity to the query (1 - cosine distance),
/// in [-1, 1], higher is nearer.
pub use reco_domain::recommendation::ScoredItem;

/// The one statement of a batch, over the items of `{items}` (the view, or one version's
/// table, spliced in by [`knn_sql`]). `$1` query vectors (NULL: item-to-item), `$2`/`$3` seed
/// (request, id) pairs, `$4`/`$5` excluded (request, id) pairs, `$6` k. Requests are 1-based.
/// Seeds and exclusions are grouped per request once (hash aggregates joined to the requests),
/// so preparing a batch stays linear in its size; only the k-NN scans are per request.
const KNN_BATCH_SQL: &str = "
WITH request AS (
    SELECT r.req::int4 AS req, r.vec
    FROM unnest($1::vector[]) WITH ORDINALITY AS r(vec, req)
),
seed AS (
    SELECT s.req, s.id FROM unnest($2::int4[], $3::text[]) AS s(req, id)
),
centroid AS (
    SELECT seed.req, avg(l2_normalize(i.embedding)) AS vec
    FROM seed JOIN {items} i ON i.id = seed.id
    GROUP BY seed.req
),
skip AS (
    SELECT u.req, array_agg(u.id) AS ids
    FROM (SELECT e.req, e.id FROM unnest($4::int4[], $5::text[]) AS e(req, id)
          UNION ALL
          SELECT seed.req, seed.id FROM seed) u
    GROUP BY u.req
),
query AS MATERIALIZED (
    SELECT request.req,
           COALESCE(request.vec, centroid.vec) AS q,
           COALESCE(skip.ids, '{}'::text[]) AS skip
    FROM request
    LEFT JOIN centroid ON centroid.req = request.req
    LEFT JOIN skip ON skip.req = request.req
)
SELECT query.req, hit.id, hit.score
FROM query
CROSS JOIN LATERAL (
    SELECT i.id::text AS id, (1 - (i.embedding <=> query.q))::float4 AS score
    FROM {items} i
    WHERE i.id <> ALL (query.skip)
    ORDER BY i.embedding <=> query.q
    LIMIT $6
) hit
WHERE query.q IS NOT NULL
ORDER BY query.req, hit.score DESC, hit.id
";

/// The batch statement over `items` (a name from [`crate::schema`], never input).
fn knn_sql(items: &str) -> String {
    KNN_BATCH_SQL.replace("{items}", items)
}

/// Where a batch reads the items.
#[derive(Debug, Clone, Copy)]
enum Items<'a> {
    /// The view (whatever version is active when the statement runs).
    View,
    /// One version's table (checked with [`is_embedding_version`]).
    Version(&'a str),
}

impl Items<'_> {
    fn sql(self) -> Result<String, StoreError> {
        match self {
            Items::View => Ok(knn_sql(ITEM_VIEW)),
            Items::Version(version) if is_embedding_version(version) => {
                Ok(knn_sql(&item_table(version)))
            }
            Items::Version(version) => Err(StoreError::BadRequest {
                reason: format!("{version:?} is not an embedding version"),
            }),
        }
    }
}

/// How a batch is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// HNSW index scans (production).
    Index,
    /// Index scans disabled: exact sequential scans, for evaluation and tests.
    Exact,
}

/// The batch as bind arrays.
struct BatchArgs {
    vectors: Vec<Option<Vector>>,
    seed_req: Vec<i32>,
    seed_id: Vec<String>,
    excluded_req: Vec<i32>,
    excluded_id: Vec<String>,
    k: i64,
}

impl BatchArgs {
    /// Checks the batch, then lays it out as bind arrays.
    fn new(requests: &[KnnRequest], k: usize) -> Result<Self, StoreError> {
        check(requests, k)?;
        Ok(Self::build(requests, k))
    }

    /// Lays out a batch that passed [`check`].
    fn build(requests: &[KnnRequest], k: usize) -> Self {
        let mut args = BatchArgs {
            vectors: Vec::with_capacity(requests.len()),
            seed_req: Vec::new(),
            seed_id: Vec::new(),
            excluded_req: Vec::new(),
            excluded_id: Vec::new(),
            k: k as i64,
        };
        // `check` bounded the batch to i32::MAX requests.
        for (req, request) in (1..).zip(requests) {
            let exclude = match request {
                KnnRequest::ByVector { vector, exclude } => {
                    args.vectors.push(Some(Vector::from(vector.clone())));
                    exclude
                }
                KnnRequest::SimilarTo { item_ids, exclude } => {
                    args.vectors.push(None);
                    for id in item_ids {
                        args.seed_req.push(req);
                        args.seed_id.push(id.clone());
                    }
                    exclude
                }
            };
            for id in exclude {
                args.excluded_req.push(req);
                args.excluded_id.push(id.clone());
            }
        }
        args
    }
}

/// Refuses what the database would refuse, naming the request: `k` out of range, an empty or
/// non-finite query vector, query vectors of different dimensions, too many requests.
fn check(requests: &[KnnRequest], k: usize) -> Result<(), StoreError> {
    if k == 0 || k > MAX_K {
        return Err(StoreError::BadRequest {
            reason: format!("k = {k} must be within 1..={MAX_K}"),
        });
    }
    if i32::try_from(requests.len()).is_err() {
        return Err(StoreError::BadRequest {
            reason: format!("batch of {} requests is too large", requests.len()),
        });
    }
    let mut dim: Option<(usize, usize)> = None;
    for (index, request) in requests.iter().enumerate() {
        let KnnRequest::ByVector { vector, .. } = request else {
            continue;
        };
        if vector.is_empty() {
            return Err(StoreError::BadRequest {
                reason: format!("request {index}: empty query vector"),
            });
        }
        if let Some(bad) = vector.iter().position(|v| !v.is_finite()) {
            return Err(StoreError::BadRequest {
                reason: format!("request {index}: element {bad} is not finite"),
            });
        }
        match dim {
            Some((first, at)) if first != vector.len() => {
                return Err(StoreError::BadRequest {
                    reason: format!(
                        "request {index}: query vector has dimension {}, request {at} has {first}",
                        vector.len()
                    ),
                });
            }
            None => dim = Some((vector.len(), index)),
            _ => {}
        }
    }
    Ok(())
}

impl VectorStore {
    /// The `k` nearest items of every request, in request order, nearest first.
    ///
    /// One round trip for the whole batch (one statement when the store was built with
    /// [`VectorStore::connect`]; a batch of at least 2 x [`KNN_PART_MIN_REQUESTS`] requests is
    /// split into up to [`StoreOptions::knn_parallelism`](crate::StoreOptions) statements sent
    /// at once on as many connections), every sub-query served by the HNSW index.
    pub async fn knn_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        self.run_batch(requests, k, Mode::Index, Items::View).await
    }

    /// [`VectorStore::knn_batch`] over the items of `embedding_version` (its own table, not
    /// the view), so that the answers come from the embeddings of the model that embedded the
    /// queries even while a load swaps the view.
    ///
    /// Fails with [`StoreError::NoActiveVersion`] when that version's table is gone (a newer
    /// load replaced it and dropped it): read the active version again and redo the batch.
    pub async fn knn_batch_in_version(
        &self,
        embedding_version: &str,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        self.run_batch(requests, k, Mode::Index, Items::Version(embedding_version))
            .await
    }

    /// The same batch answered exactly, by sequential scans (index scans disabled). Slow on
    /// large tables: for measuring recall and for tests.
    pub async fn knn_batch_exact(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        self.run_batch(requests, k, Mode::Exact, Items::View).await
    }

    /// PostgreSQL's plan (`EXPLAIN`) of the batch statement, one line per element.
    pub async fn explain_knn_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
    ) -> Result<Vec<String>, StoreError> {
        let args = BatchArgs::new(requests, k)?;
        let explain = format!("EXPLAIN {}", knn_sql(ITEM_VIEW));
        let query = bind(sqlx::query(sqlx::AssertSqlSafe(explain)), args);
        let rows = if self.session_configured {
            query.fetch_all(&self.pool).await?
        } else {
            let mut tx = self.pool.begin().await?;
            self.set_local_settings(&mut tx, Mode::Index).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        };
        Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect())
    }

    async fn run_batch(
        &self,
        requests: &[KnnRequest],
        k: usize,
        mode: Mode,
        items: Items<'_>,
    ) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
        check(requests, k)?;
        let sql = items.sql()?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let parts =
            (self.options.knn_parallelism as usize).min(requests.len() / KNN_PART_MIN_REQUESTS);
        if parts > 1 && self.session_configured && mode == Mode::Index {
            // Checked whole above (request numbers in errors are the batch's); now split into
            // contiguous parts sent at once on their own connections.
            let chunk = requests.len().div_ceil(parts);
            let sql = &sql;
            let answers =
                futures_util::future::try_join_all(requests.chunks(chunk).map(|part| async move {
                    let statement = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                    let rows = bind(statement, BatchArgs::build(part, k))
                        .fetch_all(&self.pool)
                        .await?;
                    group(rows, part.len())
                }))
                .await?;
            return Ok(answers.into_iter().flatten().collect());
        }
        let query = bind(
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())),
            BatchArgs::build(requests, k),
        );
        let rows = if self.session_configured && mode == Mode::Index {
            query.fetch_all(&self.pool).await?
        } else {
            let mut tx = self.pool.begin().await?;
            self.set_local_settings(&mut tx, mode).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        };
        group(rows, requests.len())
    }

    /// Applies the query settings to the current transaction only (`set_config(.., true)` is
    /// `SET LOCAL`), so pooled connections are left as they were.
    pub(crate) async fn set_local_settings(
        &self,
        tx: &mut sqlx::PgTransaction<'_>,
        mode: Mode,
    ) -> Result<(), StoreError> {
        let index_scans = if mode == Mode::Index { "on" } else { "off" };
        sqlx::query(
            "SELECT set_config('hnsw.ef_search', $1, true),
                    set_config('hnsw.iterative_scan', 'relaxed_order', true),
                    set_config('enable_indexscan', $2, true)",
        )
        .bind(self.options.ef_search.to_string())
        .bind(index_scans)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

fn bind(
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    args: BatchArgs,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(args.vectors)
        .bind(args.seed_req)
        .bind(args.seed_id)
        .bind(args.excluded_req)
        .bind(args.excluded_id)
        .bind(args.k)
}

fn group(rows: Vec<PgRow>, requests: usize) -> Result<Vec<Vec<ScoredItem>>, StoreError> {
    let mut results = vec![Vec::new(); requests];
    for row in rows {
        let req: i32 = row.try_get("req").map_err(StoreError::from)?;
        let slot = usize::try_from(req)
            .ok()
            .and_then(|r| r.checked_sub(1))
            .and_then(|r| results.get_mut(r))
            .ok_or_else(|| StoreError::BadRequest {
                reason: format!("database returned unknown request number {req}"),
            })?;
        slot.push(ScoredItem {
            id: row.try_get("id").map_err(StoreError::from)?,
            score: row.try_get("score").map_err(StoreError::from)?,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_arrays_keep_request_numbers_and_check_dimensions() {
        let requests = vec![
            KnnRequest::ByVector {
                vector: vec![1.0, 0.0],
                exclude: vec!["a".into()],
            },
            KnnRequest::SimilarTo {
                item_ids: vec!["b".into(), "c".into()],
                exclude: vec!["d".into()],
            },
        ];
        let args = BatchArgs::new(&requests, 5).unwrap();
        assert_eq!(args.vectors.len(), 2);
        assert!(args.vectors[1].is_none());
        assert_eq!(args.seed_req, vec![2, 2]);
        assert_eq!(args.seed_id, vec!["b", "c"]);
        assert_eq!(args.excluded_req, vec![1, 2]);
        assert_eq!(args.excluded_id, vec!["a", "d"]);

        let mixed = vec![
            KnnRequest::ByVector {
                vector: vec![1.0, 0.0],
                exclude: vec![],
            },
            KnnRequest::ByVector {
                vector: vec![1.0, 0.0, 2.0],
                exclude: vec![],
            },
        ];
        let err = BatchArgs::new(&mixed, 5).err().unwrap().to_string();
        assert!(
            err.contains("request 1") && err.contains("dimension 3"),
            "{err}"
        );
        assert!(BatchArgs::new(&requests, 0).is_err());
        let nan = vec![KnnRequest::ByVector {
            vector: vec![f32::NAN],
            exclude: vec![],
        }];
        assert!(!BatchArgs::new(&nan, 1).err().unwrap().is_retryable());
    }

    #[test]
    fn requests_the_database_would_refuse_are_named_before_sending() {
        let by_vector = |vector: Vec<f32>, exclude: &[&str]| KnnRequest::ByVector {
            vector,
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(
            validate_request(&by_vector(vec![1.0, 0.0], &["S1"]), 2),
            Ok(())
        );
        let err = |request: KnnRequest| validate_request(&request, 2).unwrap_err();
        assert!(err(by_vector(vec![1.0], &[])).contains("dimension 1, the embeddings 2"));
        assert!(err(by_vector(vec![], &[])).contains("1..=16000"));
        assert!(err(by_vector(vec![f32::INFINITY, 0.0], &[])).contains("element 0"));
        let nul = err(by_vector(vec![1.0, 0.0], &["S1", "S\0x"]));
        assert_eq!(nul, "excluded item id 1 contains a NUL byte");
        let similar = KnnRequest::SimilarTo {
            item_ids: vec!["\0".into()],
            exclude: vec![],
        };
        assert_eq!(err(similar), "item id 0 contains a NUL byte");
    }

    #[test]
    fn a_version_batch_reads_that_version_s_table_and_names_are_checked() {
        let sql = Items::Version("e20261122031500123456").sql().unwrap();
        assert!(
            sql.contains("FROM item_emb_e20261122031500123456 i"),
            "{sql}"
        );
        assert!(
            !sql.contains("{items}") && !sql.contains("item_emb i"),
            "{sql}"
        );
        assert!(Items::View.sql().unwrap().contains("JOIN item_emb i"));
        let err = Items::Version("x; DROP TABLE item_emb").sql().unwrap_err();
        assert!(
            err.to_string().contains("not an embedding version"),
            "{err}"
        );
    }
}
