//! The loader: embeddings CSV streams -> binary `COPY` into new versioned tables -> primary
//! keys and HNSW index -> views re-pointed and the version marked active.
//!
//! Everything up to the swap happens in ONE transaction on a dedicated connection, under an
//! advisory lock that serialises loads: a malformed line, a database error or a crash rolls
//! it all back, so the active version is untouched and nothing is left behind. Readers keep
//! querying the old tables through the views meanwhile and see the new version, whole, from
//! the commit on. Old versions are dropped afterwards, in a transaction of their own.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, Row};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::error::FilePosition;
use crate::schema::{
    self, CREATE_VERSIONS_SQL, HNSW_EF_CONSTRUCTION, HNSW_M, LOAD_LOCK_KEY, NEW_VERSION_SQL,
    VERSIONED_TABLE_REGEX,
};
use crate::{LoadError, StoreError, VectorStore, copy_binary, csv};

/// Bytes of CSV parsed per block (and about as many encoded bytes sent per `CopyData`
/// message): large enough to amortise the hand-over, small enough to keep memory flat
/// whatever the file size.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// Rows between two progress messages.
const PROGRESS_EVERY_ROWS: u64 = 250_000;

/// How long dropping an old version waits for readers still using it before giving up (the
/// next load retries): a stuck reader must not make a finished load hang.
const DROP_LOCK_TIMEOUT: &str = "30s";

/// `loaded_by` value recorded by this loader (sql/embeddings.sql records its own name).
const LOADED_BY: &str = "reco load-embeddings";

/// Longest accepted model version name (it is stored, and shown in recommendations).
const MAX_MODEL_VERSION_LEN: usize = 200;

/// One embeddings file: a name for messages and a buffered stream of its bytes.
#[derive(Debug)]
pub struct EmbeddingFile<R> {
    /// Name used in error messages (file name or S3 URI).
    pub name: String,
    /// The CSV bytes.
    pub reader: R,
}

/// The embeddings of one model version.
#[derive(Debug)]
pub struct EmbeddingSource<I, U> {
    /// Model version the embeddings belong to (recorded as active after the swap).
    pub model_version: String,
    /// `item_embeddings.csv`: product code, embedding.
    pub items: EmbeddingFile<I>,
    /// `user_embeddings.csv`: customer number, embedding.
    pub users: EmbeddingFile<U>,
}

/// What a load did, with the time of each phase.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Model version now active.
    pub model_version: String,
    /// Embedding version (load id) now active.
    pub embedding_version: String,
    /// Dimension of the embeddings.
    pub dim: usize,
    /// Item rows loaded.
    pub item_rows: u64,
    /// User rows loaded.
    pub user_rows: u64,
    /// Time parsing, encoding and copying the items.
    pub copy_items: Duration,
    /// Time parsing, encoding and copying the users.
    pub copy_users: Duration,
    /// Time adding the primary keys.
    pub primary_keys: Duration,
    /// Time building the HNSW index.
    pub hnsw_index: Duration,
    /// Time of the swap and commit.
    pub swap: Duration,
    /// Old versioned tables dropped after the swap.
    pub dropped_tables: Vec<String>,
    /// Why dropping old versions failed, if it did (the load itself succeeded; the next
    /// load retries the drop).
    pub cleanup_error: Option<String>,
}

/// Which table an embeddings file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Item ids are product codes (`varchar`).
    Items,
    /// User ids are customer numbers (`int`).
    Users,
}

/// One parsed data line.
struct Record {
    line: u64,
    id: String,
    vector: Vec<f32>,
}

/// Reads an embeddings CSV line by line, counting lines for error messages.
struct RecordReader<R> {
    file: String,
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> RecordReader<R> {
    fn new(file: EmbeddingFile<R>) -> Self {
        Self {
            file: file.name,
            reader: file.reader,
            line: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> LoadError {
        LoadError::Malformed {
            at: FilePosition {
                file: self.file.clone(),
                line: self.line,
            },
            reason: reason.into(),
        }
    }

    /// Appends the next line (with its ending) to `buf` and counts it; `false` at the end.
    async fn read_line_into(&mut self, buf: &mut Vec<u8>) -> Result<bool, LoadError> {
        let n = self
            .reader
            .read_until(b'\n', buf)
            .await
            .map_err(|source| LoadError::Read {
                file: self.file.clone(),
                source,
            })?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    /// The next line without its line ending, or `None` at the end of the file.
    async fn next_line(&mut self) -> Result<Option<&str>, LoadError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let more = self.read_line_into(&mut buf).await;
        self.buf = buf;
        if !more? {
            return Ok(None);
        }
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        match std::str::from_utf8(&self.buf[..end]) {
            Ok(text) => Ok(Some(text)),
            Err(e) => Err(LoadError::Malformed {
                at: FilePosition {
                    file: self.file.clone(),
                    line: self.line,
                },
                reason: format!("not UTF-8: {e}"),
            }),
        }
    }

    /// Whole lines up to about [`COPY_CHUNK_BYTES`] of text, or `None` at the end of the file.
    async fn next_block(&mut self) -> Result<Option<Block>, LoadError> {
        let mut text = Vec::with_capacity(COPY_CHUNK_BYTES + 64 * 1024);
        let first_line = self.line + 1;
        while text.len() < COPY_CHUNK_BYTES && self.read_line_into(&mut text).await? {}
        Ok((!text.is_empty()).then_some(Block { first_line, text }))
    }

    async fn read_header(&mut self) -> Result<(), LoadError> {
        let header = match self.next_line().await? {
            Some(line) => csv::check_header(line),
            None => Err("file is empty (expected the header id,embedding)".to_owned()),
        };
        header.map_err(|reason| LoadError::BadFile {
            file: self.file.clone(),
            reason,
        })
    }

    async fn next_record(&mut self) -> Result<Option<Record>, LoadError> {
        let parsed = match self.next_line().await? {
            None => return Ok(None),
            Some(line) => csv::parse_record(line),
        };
        match parsed {
            Ok((id, vector)) => Ok(Some(Record {
                line: self.line,
                id,
                vector,
            })),
            Err(reason) => Err(self.malformed(reason)),
        }
    }
}

impl VectorStore {
    /// Loads the embeddings of one model version and makes it the active version atomically.
    ///
    /// `progress` receives human-readable progress lines (rows copied, phases).
    pub async fn load_version<I, U>(
        &self,
        source: EmbeddingSource<I, U>,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<LoadReport, LoadError>
    where
        I: AsyncBufRead + Unpin + Send,
        U: AsyncBufRead + Unpin + Send,
    {
        check_model_version(&source.model_version)?;
        let mut conn = self
            .dedicated_connection()
            .await
            .map_err(|source| LoadError::Database {
                step: "connecting",
                source,
            })?;
        let mut report = load_in_transaction(
            &mut conn,
            source,
            &self.options.maintenance_work_mem,
            progress,
        )
        .await?;
        match drop_old_versions(&mut conn).await {
            Ok(dropped) => {
                if !dropped.is_empty() {
                    progress(&format!("dropped old tables {}", dropped.join(", ")));
                }
                report.dropped_tables = dropped;
            }
            Err(e) => {
                tracing::warn!(error = %e, "old embedding versions not dropped; the next load retries");
                report.cleanup_error = Some(e.to_string());
            }
        }
        // The dedicated connection closes here; nothing of the load stays in the pool.
        conn.close().await.ok();
        Ok(report)
    }
}

fn check_model_version(version: &str) -> Result<(), LoadError> {
    let reason = if version.is_empty() {
        "it is empty"
    } else if version.len() > MAX_MODEL_VERSION_LEN {
        "it is longer than 200 bytes"
    } else if version.chars().any(|c| c.is_control() || c == '/') {
        "it contains '/' or a control character"
    } else {
        return Ok(());
    };
    Err(LoadError::InvalidVersion {
        version: version.to_owned(),
        reason: reason.to_owned(),
    })
}

async fn load_in_transaction<I, U>(
    conn: &mut PgConnection,
    source: EmbeddingSource<I, U>,
    maintenance_work_mem: &str,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<LoadReport, LoadError>
where
    I: AsyncBufRead + Unpin + Send,
    U: AsyncBufRead + Unpin + Send,
{
    let mut tx = conn
        .begin()
        .await
        .map_err(LoadError::db("starting the transaction"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOAD_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("waiting for other loads to finish"))?;
    sqlx::query(
        "SELECT set_config('statement_timeout', '0', true),
                set_config('maintenance_work_mem', $1, true)",
    )
    .bind(maintenance_work_mem)
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("configuring the session"))?;
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("creating the vector extension"))?;
    sqlx::raw_sql(CREATE_VERSIONS_SQL)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("creating the metadata table"))?;
    let version: String = sqlx::query_scalar(NEW_VERSION_SQL)
        .fetch_one(&mut *tx)
        .await
        .map_err(LoadError::db("naming the new version"))?;
    if !schema::is_embedding_version(&version) {
        return Err(LoadError::InvalidVersion {
            version,
            reason: "the server generated an unexpected embedding version name".to_owned(),
        });
    }
    let item_table = schema::item_table(&version);
    let user_table = schema::user_table(&version);

    let started = Instant::now();
    let mut items = RecordReader::new(source.items);
    items.read_header().await?;
    let first_item = items
        .next_record()
        .await?
        .ok_or_else(|| LoadError::BadFile {
            file: items.file.clone(),
            reason: "no embeddings after the header".to_owned(),
        })?;
    let dim = first_item.vector.len();
    let item_rows = copy_file(
        &mut tx,
        &item_table,
        Kind::Items,
        dim,
        items,
        first_item,
        progress,
    )
    .await?;
    let copy_items = started.elapsed();

    let started = Instant::now();
    let mut users = RecordReader::new(source.users);
    users.read_header().await?;
    let first_user = users
        .next_record()
        .await?
        .ok_or_else(|| LoadError::BadFile {
            file: users.file.clone(),
            reason: "no embeddings after the header".to_owned(),
        })?;
    if first_user.vector.len() != dim {
        return Err(LoadError::DimensionMismatch {
            items: dim,
            users: first_user.vector.len(),
        });
    }
    let user_rows = copy_file(
        &mut tx,
        &user_table,
        Kind::Users,
        dim,
        users,
        first_user,
        progress,
    )
    .await?;
    let copy_users = started.elapsed();

    // Keys after the copy: one sorted build is faster than maintaining the index per row.
    // Duplicates were already refused with their line numbers; the key is the backstop.
    let started = Instant::now();
    for table in [&item_table, &user_table] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} ADD PRIMARY KEY (id)"
        )))
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("adding the primary keys"))?;
    }
    let primary_keys = started.elapsed();

    progress(&format!(
        "building the HNSW index on {item_rows} items (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    ));
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX {item_table}_hnsw ON {item_table} USING hnsw (embedding vector_cosine_ops) \
         WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )))
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("building the HNSW index"))?;
    let hnsw_index = started.elapsed();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ANALYZE {item_table}; ANALYZE {user_table}"
    )))
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("analyzing the new tables"))?;

    let started = Instant::now();
    swap_views(&mut tx, &item_table, &user_table, dim).await?;
    sqlx::query("UPDATE reco_embedding_versions SET active = false WHERE active")
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("recording the active version"))?;
    sqlx::query(
        "INSERT INTO reco_embedding_versions
             (embedding_version, model_version, dim, item_rows, user_rows, loaded_by, loaded_at, active)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), true)",
    )
    .bind(&version)
    .bind(&source.model_version)
    .bind(dim as i32)
    .bind(item_rows as i64)
    .bind(user_rows as i64)
    .bind(LOADED_BY)
    .execute(&mut *tx)
    .await
    .map_err(LoadError::db("recording the active version"))?;
    tx.commit()
        .await
        .map_err(LoadError::db("committing the swap"))?;
    let swap = started.elapsed();
    progress(&format!(
        "model {} active as embedding version {version}: {item_rows} items, {user_rows} users, dim {dim}",
        source.model_version
    ));
    Ok(LoadReport {
        model_version: source.model_version,
        embedding_version: version,
        dim,
        item_rows,
        user_rows,
        copy_items,
        copy_users,
        primary_keys,
        hnsw_index,
        swap,
        dropped_tables: Vec::new(),
        cleanup_error: None,
    })
}

/// Creates `table` and streams every record of `reader` into it with binary `COPY`.
///
/// Parsing is the slow part (the server ingests binary rows several times faster than the
/// client parses CSV), so blocks of lines are parsed on blocking threads, one per core, while
/// the oldest parsed block is checked for duplicates and sent; blocks are sent in file order
/// and the first bad line in file order is the one reported.
async fn copy_file<R: AsyncBufRead + Unpin>(
    conn: &mut PgConnection,
    table: &str,
    kind: Kind,
    dim: usize,
    mut reader: RecordReader<R>,
    first: Record,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<u64, LoadError> {
    let id_type = match kind {
        Kind::Items => "varchar",
        Kind::Users => "integer",
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id {id_type} NOT NULL, embedding vector({dim}) NOT NULL)"
    )))
    .execute(&mut *conn)
    .await
    .map_err(LoadError::db("creating the versioned tables"))?;
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} (id, embedding) FROM STDIN (FORMAT BINARY)"
        ))
        .await
        .map_err(LoadError::db("starting COPY"))?;

    let encoder = Encoder {
        kind,
        dim,
        file: reader.file.clone(),
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_PARSE_THREADS);
    let mut seen = SeenIds::default();
    let mut rows: u64 = 0;
    let outcome: Result<(), LoadError> = async {
        let mut head = copy_binary::HEADER.to_vec();
        let Record { line, id, vector } = first;
        let id = encoder.push(&mut head, line, id, &vector)?;
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
                progress(&format!("{}: {rows} rows copied", reader.file));
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
    progress(&format!("{}: {rows} rows copied into {table}", reader.file));
    Ok(rows)
}

/// Blocks parsed at once at most (one per core, up to this).
const MAX_PARSE_THREADS: usize = 4;

/// Whole lines of a file, read together and parsed on a blocking thread.
struct Block {
    /// Line number of the first line.
    first_line: u64,
    /// The lines, each ending in `\n` except perhaps the file's last.
    text: Vec<u8>,
}

/// A parsed block: its rows in binary `COPY` form and their ids with line numbers (checked
/// for duplicates in file order afterwards).
struct EncodedBlock {
    bytes: Vec<u8>,
    ids: Vec<(u64, RowId)>,
}

/// A row's id as stored.
enum RowId {
    Text(String),
    Int(i32),
}

/// Parses and encodes rows into binary `COPY` data, checking each row on its own (dimension,
/// id type); duplicates need every earlier row and are checked by [`SeenIds`].
#[derive(Clone)]
struct Encoder {
    kind: Kind,
    dim: usize,
    file: String,
}

impl Encoder {
    fn malformed(&self, line: u64, reason: String) -> LoadError {
        LoadError::Malformed {
            at: FilePosition {
                file: self.file.clone(),
                line,
            },
            reason,
        }
    }

    /// Appends one row to `buf`, returning its id.
    fn push(
        &self,
        buf: &mut Vec<u8>,
        line: u64,
        id: String,
        vector: &[f32],
    ) -> Result<RowId, LoadError> {
        if vector.len() != self.dim {
            return Err(self.malformed(
                line,
                format!(
                    "embedding has {} dimensions, expected {} (the first row's)",
                    vector.len(),
                    self.dim
                ),
            ));
        }
        match self.kind {
            Kind::Items => {
                copy_binary::push_text_row(buf, &id, vector);
                Ok(RowId::Text(id))
            }
            Kind::Users => {
                let Ok(number) = id.parse::<i32>() else {
                    return Err(self.malformed(
                        line,
                        format!("user id {id:?} is not an integer customer number"),
                    ));
                };
                copy_binary::push_int_row(buf, number, vector);
                Ok(RowId::Int(number))
            }
        }
    }

    /// Parses and encodes every line of `block`; the first bad line aborts with its number.
    fn encode_block(&self, block: &Block) -> Result<EncodedBlock, LoadError> {
        let mut bytes = Vec::with_capacity(block.text.len());
        let mut ids = Vec::new();
        let mut text: &[u8] = &block.text;
        if let Some(stripped) = text.strip_suffix(b"\n") {
            text = stripped;
        }
        for (offset, raw) in text.split(|b| *b == b'\n').enumerate() {
            let line = block.first_line + offset as u64;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let record = std::str::from_utf8(raw)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(csv::parse_record);
            let (id, vector) = record.map_err(|reason| self.malformed(line, reason))?;
            let id = self.push(&mut bytes, line, id, &vector)?;
            ids.push((line, id));
        }
        Ok(EncodedBlock { bytes, ids })
    }
}

/// Ids already copied, to refuse a duplicate with its line number.
#[derive(Default)]
struct SeenIds {
    text: HashSet<String>,
    int: HashSet<i32>,
}

impl SeenIds {
    fn insert(&mut self, encoder: &Encoder, line: u64, id: RowId) -> Result<(), LoadError> {
        match id {
            RowId::Text(id) => {
                if !self.text.insert(id) {
                    return Err(encoder.malformed(line, "duplicate item id".to_owned()));
                }
            }
            RowId::Int(number) => {
                if !self.int.insert(number) {
                    return Err(encoder.malformed(line, format!("duplicate user id {number}")));
                }
            }
        }
        Ok(())
    }
}

/// Points the views at the new tables. `CREATE OR REPLACE VIEW` keeps the view (and readers'
/// cached plans) when the column types are unchanged; a new dimension changes the column type,
/// which only a drop and re-create can do. Both happen inside the load's transaction.
async fn swap_views(
    conn: &mut PgConnection,
    item_table: &str,
    user_table: &str,
    dim: usize,
) -> Result<(), LoadError> {
    for (view, table) in [
        (schema::ITEM_VIEW, item_table),
        (schema::USER_VIEW, user_table),
    ] {
        let current: Option<String> = sqlx::query_scalar(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding'",
        )
        .bind(view)
        .fetch_optional(&mut *conn)
        .await
        .map_err(LoadError::db("inspecting the current views"))?;
        let replace = if current.as_deref() == Some(format!("vector({dim})").as_str()) {
            format!("CREATE OR REPLACE VIEW {view} AS SELECT id, embedding FROM {table}")
        } else {
            format!(
                "DROP VIEW IF EXISTS {view}; CREATE VIEW {view} AS SELECT id, embedding FROM {table}"
            )
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(replace))
            .execute(&mut *conn)
            .await
            .map_err(LoadError::db("swapping the views"))?;
    }
    Ok(())
}

/// Drops every versioned table that is not the active version's. Skipped (returns nothing)
/// while another load holds the lock: that load drops them when it finishes.
async fn drop_old_versions(conn: &mut PgConnection) -> Result<Vec<String>, LoadError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(LoadError::db("starting the cleanup"))?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOAD_LOCK_KEY)
        .fetch_one(&mut *tx)
        .await
        .map_err(LoadError::db("locking for cleanup"))?;
    if !locked {
        return Ok(Vec::new());
    }
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(DROP_LOCK_TIMEOUT)
        .execute(&mut *tx)
        .await
        .map_err(LoadError::db("configuring the cleanup"))?;
    let rows = sqlx::query(
        "SELECT c.relname::text AS name
         FROM pg_class c
         WHERE c.relkind = 'r'
           AND c.relnamespace = current_schema()::regnamespace
           AND c.relname ~ $1
           AND NOT EXISTS (
               SELECT 1 FROM reco_embedding_versions v
               WHERE v.active AND c.relname IN ('item_emb_' || v.embedding_version,
                                                'user_emb_' || v.embedding_version))
         ORDER BY 1",
    )
    .bind(VERSIONED_TABLE_REGEX)
    .fetch_all(&mut *tx)
    .await
    .map_err(LoadError::db("listing old versions"))?;
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    for name in &names {
        // Names matched VERSIONED_TABLE_REGEX: letters, digits and '_' only.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await
            .map_err(LoadError::db("dropping old versions"))?;
    }
    tx.commit()
        .await
        .map_err(LoadError::db("committing the cleanup"))?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_versions_are_checked() {
        check_model_version("2026-11-22T03-00-00Z").unwrap();
        assert!(check_model_version("").is_err());
        assert!(check_model_version("a/b").is_err());
        assert!(check_model_version(&"x".repeat(201)).is_err());
    }

    #[tokio::test]
    async fn records_carry_line_numbers_and_errors_name_the_line() {
        let text = "id,embedding\nS10_1678,\"[1,2]\"\r\nS10_1949,\"[1,x]\"\n";
        let mut reader = RecordReader::new(EmbeddingFile {
            name: "item_embeddings.csv".to_owned(),
            reader: text.as_bytes(),
        });
        reader.read_header().await.unwrap();
        let first = reader.next_record().await.unwrap().unwrap();
        assert_eq!((first.line, first.id.as_str()), (2, "S10_1678"));
        assert_eq!(first.vector, vec![1.0, 2.0]);
        let err = reader.next_record().await.err().unwrap().to_string();
        assert!(err.starts_with("item_embeddings.csv:3: element 2"), "{err}");
    }
}
