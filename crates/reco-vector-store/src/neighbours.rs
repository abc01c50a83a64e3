//! Nearest neighbours of given items, with the embeddings: what a client-side cache needs to
//! answer "similar to these items" requests itself ([`VectorStore::item_neighbours_in_version`]).
//!
//! One statement per batch of items (split over the pool like [`VectorStore::knn_batch`]):
//! per known item, a `LATERAL` HNSW scan `ORDER BY embedding <=> item LIMIT m` over the same
//! version's table, returning each neighbour's embedding with its similarity.

use pgvector::Vector;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::knn::Mode;
use crate::options::{KNN_PART_MIN_REQUESTS, MAX_K};
use crate::schema::{is_embedding_version, item_table};
use crate::{StoreError, VectorStore};

/// One item of a version, its embedding and its nearest other items.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemNeighbours {
    /// The item's embedding, as stored.
    pub embedding: Vec<f32>,
    /// Its nearest other items (the item itself left out), nearest first: at most the `m`
    /// asked for, fewer only when the version holds fewer other items.
    pub neighbours: Vec<Neighbour>,
}

/// A neighbour of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Item id.
    pub id: String,
    /// Cosine similarity to the item (1 - cosine distance).
    pub score: f32,
    /// The neighbour's embedding, as stored.
    pub embedding: Vec<f32>,
}

/// `$1` item ids (request `r` is the `r`-th, 1-based), `$2` m. Unknown ids give no row; a
/// known item with no other item gives one row with NULL neighbour columns.
const NEIGHBOURS_SQL: &str = "
WITH seed AS MATERIALIZED (
    SELECT s.req::int4 AS req, i.id AS id, i.embedding AS q
    FROM unnest($1::text[]) WITH ORDINALITY AS s(id, req)
    JOIN {items} i ON i.id = s.id
)
SELECT seed.req, seed.q AS seed_embedding, hit.id, hit.score, hit.embedding
FROM seed
LEFT JOIN LATERAL (
    SELECT j.id::text AS id, (1 - (j.embedding <=> seed.q))::float4 AS score, j.embedding
    FROM {items} j
    WHERE j.id <> seed.id
    ORDER BY j.embedding <=> seed.q
    LIMIT $2
) hit ON true
ORDER BY seed.req, hit.score DESC, hit.id
";

impl VectorStore {
    /// Every item of `ids` with its embedding and its `m` nearest other items of
    /// `embedding_version` (its own table, as [`VectorStore::knn_batch_in_version`]), each
    /// found by an HNSW scan; `None` for an id the version does not hold. One round trip (a
    /// large batch is split into up to `knn_parallelism` statements sent at once).
    ///
    /// Fails with [`StoreError::NoActiveVersion`] when that version's table is gone.
    pub async fn item_neighbours_in_version(
        &self,
        embedding_version: &str,
        ids: &[String],
        m: usize,
    ) -> Result<Vec<Option<ItemNeighbours>>, StoreError> {
        if !is_embedding_version(embedding_version) {
            return Err(StoreError::BadRequest {
                reason: format!("{embedding_version:?} is not an embedding version"),
            });
        }
        if m == 0 || m > MAX_K {
            return Err(StoreError::BadRequest {
                reason: format!("m = {m} must be within 1..={MAX_K}"),
            });
        }
        if i32::try_from(ids.len()).is_err() {
            return Err(StoreError::BadRequest {
                reason: format!("batch of {} items is too large", ids.len()),
            });
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = NEIGHBOURS_SQL.replace("{items}", &item_table(embedding_version));
        let parts = (self.options.knn_parallelism as usize).min(ids.len() / KNN_PART_MIN_REQUESTS);
        let chunk = ids.len().div_ceil(parts.max(1));
        let sql = &sql;
        let answers = futures_util::future::try_join_all(
            ids.chunks(chunk)
                .map(|part| async move { self.neighbours_part(sql, part, m).await }),
        )
        .await?;
        Ok(answers.into_iter().flatten().collect())
    }

    async fn neighbours_part(
        &self,
        sql: &str,
        ids: &[String],
        m: usize,
    ) -> Result<Vec<Option<ItemNeighbours>>, StoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .bind(m as i64);
        let rows = if self.session_configured {
            query.fetch_all(&self.pool).await?
        } else {
            let mut tx = self.pool.begin().await?;
            self.set_local_settings(&mut tx, Mode::Index).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        };
        group(rows, ids.len())
    }
}

fn group(rows: Vec<PgRow>, requests: usize) -> Result<Vec<Option<ItemNeighbours>>, StoreError> {
    let mut results: Vec<Option<ItemNeighbours>> = vec![None; requests];
    for row in rows {
        let req: i32 = row.try_get("req")?;
        let slot = usize::try_from(req)
            .ok()
            .and_then(|r| r.checked_sub(1))
            .and_then(|r| results.get_mut(r))
            .ok_or_else(|| StoreError::BadRequest {
                reason: format!("database returned unknown request number {req}"),
            })?;
        let entry = match slot {
            Some(entry) => entry,
            None => slot.insert(ItemNeighbours {
                embedding: row.try_get::<Vector, _>("seed_embedding")?.to_vec(),
                neighbours: Vec::new(),
            }),
        };
        if let Some(id) = row.try_get::<Option<String>, _>("id")? {
            entry.neighbours.push(Neighbour {
                id,
                score: row.try_get("score")?,
                embedding: row.try_get::<Vector, _>("embedding")?.to_vec(),
            });
        }
    }
    Ok(results)
}
