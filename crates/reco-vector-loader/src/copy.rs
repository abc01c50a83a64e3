//! One embeddings file into one new table with binary `COPY`, parsing blocks of lines in
//! parallel while the oldest parsed block is sent.

use sqlx::PgConnection;
use tokio::io::AsyncBufRead;

use reco_domain::artifacts::COLD_COLUMN;
use reco_vector_store::StoreError;

use crate::encode::{Encoder, Kind, SeenIds};
use crate::records::{Record, RecordReader};
use crate::{LoadError, copy_binary};

/// Rows between two progress events.
const PROGRESS_EVERY_ROWS: u64 = 250_000;

/// Blocks parsed at once at most (one per core, up to this).
const MAX_PARSE_THREADS: usize = 4;

/// Creates `table` and streams every record of `reader` into it with binary `COPY`.
///
/// Parsing is the slow part (the server ingests binary rows several times faster than the
/// client parses CSV), so blocks of lines are parsed on blocking threads, one per core, while
/// the oldest parsed block is checked for duplicates and sent; blocks are sent in file order
/// and the first bad line in file order is the one reported.
pub(crate) async fn copy_file<R: AsyncBufRead + Unpin>(
    conn: &mut PgConnection,
    table: &str,
    kind: Kind,
    dim: usize,
    mut reader: RecordReader<R>,
    first: Record,
) -> Result<u64, LoadError> {
    // Items carry the cold-start flag (false for files written before it).
    let (create, columns) = match kind {
        Kind::Items => (
            format!(
                "CREATE TABLE {table} (id varchar NOT NULL, embedding vector({dim}) NOT NULL, \
                 {COLD_COLUMN} boolean NOT NULL DEFAULT false)"
            ),
            format!("id, embedding, {COLD_COLUMN}"),
        ),
        Kind::Users => (
            format!("CREATE TABLE {table} (id integer NOT NULL, embedding vector({dim}) NOT NULL)"),
            "id, embedding".to_owned(),
        ),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await
        .map_err(LoadError::db("creating the versioned tables"))?;
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
        ))
        .await
        .map_err(LoadError::db("starting COPY"))?;

    let encoder = Encoder {
        kind,
        dim,
        file: reader.file.clone(),
        flagged: reader.flagged,
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_PARSE_THREADS);
    let mut seen = SeenIds::default();
    let mut rows: u64 = 0;
    let outcome: Result<(), LoadError> = async {
        let mut head = copy_binary::HEADER.to_vec();
        let Record {
            line,
            id,
            vector,
            cold,
        } = first;
        let id = encoder.push(&mut head, line, id, &vector, cold)?;
        seen.insert(&encoder, line, id)?;
        copy.send(head)
            .await
            .map_err(LoadError::db("copying rows"))?;
        rows += 1;
        // Blocks in file order; up to `threads` of them parsing while the oldest is sent.
        let mut parsing = std::collections::VecDeque::new();
        let mut more = true;
        loop {
            while more && parsing.len() < threads {
                match reader.next_block().await? {
                    Some(block) => {
                        let encoder = encoder.clone();
                        parsing.push_back(tokio::task::spawn_blocking(move || {
                            encoder.encode_block(&block)
                        }));
                    }
                    None => more = false,
                }
            }
            let Some(handle) = parsing.pop_front() else {
                return Ok(());
            };
            let block = handle.await.map_err(|e| LoadError::Read {
                file: reader.file.clone(),
                source: std::io::Error::other(format!("parsing thread failed: {e}")),
            })??;
            let block_rows = block.ids.len() as u64;
            for (line, id) in block.ids {
                seen.insert(&encoder, line, id)?;
            }
            copy.send(block.bytes)
                .await
                .map_err(LoadError::db("copying rows"))?;
            let before = rows;
            rows += block_rows;
            if rows / PROGRESS_EVERY_ROWS > before / PROGRESS_EVERY_ROWS {
                tracing::info!(file = %reader.file, rows, "rows copied");
            }
        }
    }
    .await;
    if let Err(e) = outcome {
        // The server discards the partial COPY; the caller's transaction rolls back.
        copy.abort(e.to_string()).await.ok();
        return Err(e);
    }
    copy.send(copy_binary::TRAILER)
        .await
        .map_err(LoadError::db("copying rows"))?;
    let copied = copy
        .finish()
        .await
        .map_err(LoadError::db("finishing COPY"))?;
    if copied != rows {
        return Err(LoadError::Database {
            step: "checking row counts",
            source: StoreError::BadRequest {
                reason: format!("{table}: sent {rows} rows, the server stored {copied}"),
            },
        });
    }
    tracing::info!(file = %reader.file, rows, table, "file copied");
    Ok(rows)
}
