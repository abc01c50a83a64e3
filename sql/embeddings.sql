-- Load one model version's embeddings into PostgreSQL + pgvector and make it active atomically.
--
-- On RDS (aws_s3 extension; the instance role must be allowed to read the artifacts bucket):
--   psql "$PG_URL" -v bucket=ARTIFACTS_BUCKET -v prefix=models/VERSION/ -v region=us-east-1 \
--        -f sql/embeddings.sql
-- Locally, from a folder holding item_embeddings.csv and user_embeddings.csv (\copy):
--   psql "$RECO_PG_URL" -v dir=/path/to/VERSION -f sql/embeddings.sql
-- Optional: -v model=VERSION (default: the last folder name of prefix / dir).
-- item_embeddings.csv is `id,embedding,cold` (cold: a product nobody rated, embedded from its
-- catalogue features); files written before the flag are `id,embedding` and load with cold
-- false: read from their header locally, or -v item_columns=id,embedding on RDS.
--
-- Both ways run the same statements apart from the import: one transaction, serialised with
-- `reco load-embeddings` by the same advisory lock, that imports into staging tables, checks
-- row counts, dimensions and zero vectors, renames them to versioned tables
-- item_emb_<version> / user_emb_<version>, builds the HNSW (cosine) index, re-points the
-- views item_emb / user_emb and records the active version in reco_embedding_versions.
-- Any error rolls everything back: the active version is untouched. Old versions are dropped
-- afterwards, as `reco load-embeddings` drops them: kept are the active version, versions
-- loaded after it (staged with `reco load-embeddings --inactive`) and the newest load of each
-- model version in -v keep=VERSION[,VERSION] (an A/B experiment's treatment and control, from
-- `reco experiment status`). Differences: psql cannot read the experiment's state from S3, so
-- pass keep while an experiment runs (the Rust loader reads it, and drops nothing when it
-- cannot); loading without activating is only `reco load-embeddings --inactive`.
-- Keep in step with crates/reco-vector-loader/src/{schema,swap}.rs.

\set ON_ERROR_STOP on
\set QUIET on

\if :{?dir}
  \set local true
  \set location :dir
\else
  \set local false
  \if :{?bucket}
  \else
    \warn 'sql/embeddings.sql: set -v bucket=... -v prefix=... -v region=... (RDS) or -v dir=... (local)'
    SELECT 1 / 0 AS missing_psql_variables;
  \endif
  \set location :prefix
\endif
\if :{?keep}
\else
  \set keep ''
\endif
\if :{?item_columns}
\else
  \set item_columns 'id,embedding,cold'
\endif
\if :{?model}
\else
  SELECT regexp_replace(:'location', '^.*?([^/]+)/*$', '\1') AS model \gset
\endif

BEGIN;
-- Wait at most LOAD_LOCK_TIMEOUT (crates/reco-vector-loader/src/schema.rs) for another load.
SET LOCAL lock_timeout = '600s';
-- LOAD_LOCK_KEY of crates/reco-vector-loader/src/schema.rs ("recoemb1").
SELECT pg_advisory_xact_lock(8243124871606493745);
SET LOCAL lock_timeout = 0;
SET LOCAL statement_timeout = 0;
SET LOCAL maintenance_work_mem = '1GB';
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS reco_embedding_versions (
    embedding_version text PRIMARY KEY,
    model_version     text NOT NULL,
    dim               integer NOT NULL,
    item_rows         bigint NOT NULL,
    user_rows         bigint NOT NULL,
    loaded_by         text NOT NULL,
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    active            boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS reco_embedding_versions_one_active
    ON reco_embedding_versions (active) WHERE active;

SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', '"e"YYYYMMDDHH24MISSUS') AS version \gset
\set item_table 'item_emb_' :version
\set user_table 'user_emb_' :version
\set item_pkey :item_table '_pkey'
\set user_pkey :user_table '_pkey'
\set item_hnsw :item_table '_hnsw'

-- Staging tables: fixed names (loads are serialised by the lock), untyped dimension until checked.
CREATE TABLE reco_import_items (id varchar NOT NULL PRIMARY KEY, embedding vector NOT NULL,
                                cold boolean NOT NULL DEFAULT false);
CREATE TABLE reco_import_users (id integer NOT NULL PRIMARY KEY, embedding vector NOT NULL);

-- The import: the only part that differs between RDS and local.
\if :local
  \cd :dir
  \set item_header `head -n 1 item_embeddings.csv | tr -d '\r'`
  SELECT :'item_header' = 'id,embedding,cold' AS item_flagged \gset
  \if :item_flagged
    \copy reco_import_items (id, embedding, cold) FROM 'item_embeddings.csv' WITH (FORMAT csv, HEADER MATCH)
  \else
    \copy reco_import_items (id, embedding) FROM 'item_embeddings.csv' WITH (FORMAT csv, HEADER MATCH)
  \endif
  \copy reco_import_users (id, embedding) FROM 'user_embeddings.csv' WITH (FORMAT csv, HEADER MATCH)
\else
  CREATE EXTENSION IF NOT EXISTS aws_s3 CASCADE;
  SELECT aws_s3.table_import_from_s3('reco_import_items', :'item_columns', '(FORMAT csv, HEADER MATCH)',
      aws_commons.create_s3_uri(:'bucket', :'prefix' || 'item_embeddings.csv', :'region'));
  SELECT aws_s3.table_import_from_s3('reco_import_users', 'id,embedding', '(FORMAT csv, HEADER MATCH)',
      aws_commons.create_s3_uri(:'bucket', :'prefix' || 'user_embeddings.csv', :'region'));
\endif

-- Checks. A failed check raises, which rolls the whole load back.
CREATE FUNCTION pg_temp.reco_check(ok boolean, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT coalesce(ok, false) THEN
        RAISE EXCEPTION 'embeddings check failed: %', message;
    END IF;
END
$$;
SELECT pg_temp.reco_check(count(*) > 0, 'item_embeddings.csv has no rows') FROM reco_import_items;
SELECT pg_temp.reco_check(count(*) > 0, 'user_embeddings.csv has no rows') FROM reco_import_users;
SELECT vector_dims(embedding) AS dim FROM reco_import_items LIMIT 1 \gset
SELECT pg_temp.reco_check(bad.id IS NULL,
           format('%s id %s has %s dimensions, expected %s', bad.file, bad.id, bad.dims, :dim))
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT 'item_embeddings.csv' AS file, id::text, vector_dims(embedding) AS dims
    FROM reco_import_items WHERE vector_dims(embedding) <> :dim
    UNION ALL
    SELECT 'user_embeddings.csv', id::text, vector_dims(embedding)
    FROM reco_import_users WHERE vector_dims(embedding) <> :dim
    LIMIT 1) bad ON true;
SELECT pg_temp.reco_check(bad.id IS NULL,
           format('%s id %s is the zero vector, which has no cosine direction', bad.file, bad.id))
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT 'item_embeddings.csv' AS file, id::text FROM reco_import_items WHERE vector_norm(embedding) = 0
    UNION ALL
    SELECT 'user_embeddings.csv', id::text FROM reco_import_users WHERE vector_norm(embedding) = 0
    LIMIT 1) bad ON true;

-- Versioned tables with the checked dimension, keys and the HNSW index.
ALTER TABLE reco_import_items ALTER COLUMN embedding TYPE vector(:dim);
ALTER TABLE reco_import_users ALTER COLUMN embedding TYPE vector(:dim);
ALTER TABLE reco_import_items RENAME TO :"item_table";
ALTER TABLE reco_import_users RENAME TO :"user_table";
ALTER INDEX reco_import_items_pkey RENAME TO :"item_pkey";
ALTER INDEX reco_import_users_pkey RENAME TO :"user_pkey";
CREATE INDEX :"item_hnsw" ON :"item_table" USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
ANALYZE :"item_table";
ANALYZE :"user_table";

-- The swap: CREATE OR REPLACE keeps the views when the column type is unchanged; a new
-- dimension needs a drop and re-create. Either way inside this transaction.
SELECT count(*) = 2
       AND coalesce(bool_and(format_type(a.atttypid, a.atttypmod) = format('vector(%s)', :dim)), false)
       AS same_type
FROM pg_attribute a
WHERE a.attrelid IN (to_regclass('item_emb'), to_regclass('user_emb')) AND a.attname = 'embedding' \gset
\if :same_type
  CREATE OR REPLACE VIEW item_emb AS SELECT id, embedding FROM :"item_table";
  CREATE OR REPLACE VIEW user_emb AS SELECT id, embedding FROM :"user_table";
\else
  DROP VIEW IF EXISTS item_emb;
  DROP VIEW IF EXISTS user_emb;
  CREATE VIEW item_emb AS SELECT id, embedding FROM :"item_table";
  CREATE VIEW user_emb AS SELECT id, embedding FROM :"user_table";
\endif
UPDATE reco_embedding_versions SET active = false WHERE active;
INSERT INTO reco_embedding_versions
    (embedding_version, model_version, dim, item_rows, user_rows, loaded_by, loaded_at, active)
SELECT :'version', :'model', :dim,
       (SELECT count(*) FROM :"item_table"), (SELECT count(*) FROM :"user_table"),
       'sql/embeddings.sql', clock_timestamp(), true;
-- With the roles of `reco db migrate` (sql/roles/postgres.sql): the new tables and the views
-- belong to reco_loader, as those of `reco load-embeddings` do, and reco_reader may read them.
SELECT format('ALTER TABLE %I OWNER TO reco_loader', t)
FROM unnest(ARRAY[:'item_table', :'user_table', 'item_emb', 'user_emb']) AS t
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reco_loader') \gexec
SELECT format('GRANT SELECT ON %I TO reco_reader', t)
FROM unnest(ARRAY[:'item_table', :'user_table', 'item_emb', 'user_emb']) AS t
WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reco_reader') \gexec
COMMIT;

-- Drop old versions (skipped while another load holds the lock; it drops them itself).
BEGIN;
SELECT pg_try_advisory_xact_lock(8243124871606493745) AS locked \gset
\if :locked
  SET LOCAL lock_timeout = '30s';
  WITH kept AS (
      SELECT embedding_version FROM reco_embedding_versions WHERE active
      UNION
      SELECT embedding_version FROM reco_embedding_versions
      WHERE embedding_version > COALESCE(
          (SELECT max(embedding_version) FROM reco_embedding_versions WHERE active), '')
      UNION
      (SELECT DISTINCT ON (model_version) embedding_version FROM reco_embedding_versions
       WHERE model_version = ANY(string_to_array(NULLIF(:'keep', ''), ','))
         AND to_regclass('item_emb_' || embedding_version) IS NOT NULL
       ORDER BY model_version, embedding_version DESC))
  SELECT format('DROP TABLE %I', c.relname)
  FROM pg_class c
  WHERE c.relkind = 'r'
    AND c.relnamespace = current_schema()::regnamespace
    AND c.relname ~ '^(item|user)_emb_e[0-9]{20}$'
    AND NOT EXISTS (
        SELECT 1 FROM kept k
        WHERE c.relname IN ('item_emb_' || k.embedding_version, 'user_emb_' || k.embedding_version))
  ORDER BY 1 \gexec
\endif
COMMIT;

\set QUIET off
SELECT model_version, embedding_version, dim, item_rows, user_rows
FROM reco_embedding_versions WHERE active;
