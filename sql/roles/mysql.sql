-- reco's MySQL / MariaDB user, version 1 (sql/roles/mysql.sql).
--
-- Run by `reco db migrate` (and the pipeline's migrate step) as the master user, one
-- statement per line ending in ';'. Idempotent. Before it runs, {{etl}} is replaced by the
-- user name (lowercase letters, digits and '_', checked) and {{database}} by the source
-- database's name (checked the same way, plus upper case). The password is not set here:
-- the migration sets it, unlocks the account and writes it to the user's secret.
--
--   {{etl}}  the ETL: SELECT on the source database, nothing else.

-- Created locked: it cannot log in until the migration has given it its password.
CREATE USER IF NOT EXISTS '{{etl}}'@'%' ACCOUNT LOCK;

-- A user of that name made by hand keeps nothing but what is granted below.
REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{etl}}'@'%';
GRANT SELECT ON `{{database}}`.* TO '{{etl}}'@'%';
