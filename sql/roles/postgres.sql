-- reco's PostgreSQL roles, version 1 (sql/roles/postgres.sql).
--
-- Run by `reco db migrate` (and the pipeline's migrate step) as the master user, in one
-- transaction, in the vector database. Idempotent: every run leaves the same grants.
-- Before it runs, {{reader}} and {{loader}} are replaced by the role names (lowercase
-- letters, digits and '_', checked), {{database}} by the quoted database name and
-- {{schema}} by the schema the loader writes to. Passwords are not set here: the migration
-- sets them (as SCRAM verifiers) and writes them to each role's secret.
--
--   {{reader}}  the transform Lambda (and any other reader): SELECT on the embedding views,
--               the versioned tables and reco_embedding_versions; nothing else.
--   {{loader}}  load-embeddings: creates the versioned tables, swaps the views, drops old
--               versions; owns what it creates. No superuser, no CREATEROLE, no CREATEDB.

-- One migration at a time (roles are cluster-wide).
SELECT pg_advisory_xact_lock(hashtext('reco db migrate'));

-- The loader's `CREATE EXTENSION IF NOT EXISTS vector` is then a no-op it may run.
CREATE EXTENSION IF NOT EXISTS vector;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{reader}}') THEN
        CREATE ROLE {{reader}} LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{loader}}') THEN
        CREATE ROLE {{loader}} LOGIN;
    END IF;
END
$$;

-- A role of that name made by hand loses the attributes a master user may take away
-- (SUPERUSER, REPLICATION and BYPASSRLS only a superuser can: the migration refuses a
-- role that has them).
ALTER ROLE {{reader}} LOGIN NOCREATEDB NOCREATEROLE;
ALTER ROLE {{loader}} LOGIN NOCREATEDB NOCREATEROLE;

GRANT CONNECT ON DATABASE {{database}} TO {{reader}}, {{loader}};
GRANT USAGE ON SCHEMA {{schema}} TO {{reader}};
GRANT USAGE, CREATE ON SCHEMA {{schema}} TO {{loader}};
-- Only the loader creates objects here (PostgreSQL 15's default; older clusters granted
-- CREATE on public to everyone).
REVOKE CREATE ON SCHEMA {{schema}} FROM PUBLIC;

-- The master user acts for the loader below: default privileges and ownership of what an
-- earlier load run as the master user left.
GRANT {{loader}} TO CURRENT_USER;

-- Embedding objects made before the roles existed pass to the loader (it re-points the
-- views and drops old versions, which only an owner may) and become readable.
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.relname, c.relkind
        FROM pg_class c
        WHERE c.relnamespace = '{{schema}}'::regnamespace
          AND c.relkind IN ('r', 'v')
          AND (c.relname IN ('item_emb', 'user_emb', 'reco_embedding_versions')
               OR c.relname ~ '^(item|user)_emb_e[0-9]{20}$')
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO {{loader}}',
                       CASE obj.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
                       '{{schema}}', obj.relname);
        EXECUTE format('GRANT SELECT ON %I.%I TO {{reader}}', '{{schema}}', obj.relname);
    END LOOP;
END
$$;

-- Every table and view the loader creates from now on (each load's versioned tables, a
-- re-created view, the versions table) is readable by the reader.
ALTER DEFAULT PRIVILEGES FOR ROLE {{loader}} IN SCHEMA {{schema}} GRANT SELECT ON TABLES TO {{reader}};
