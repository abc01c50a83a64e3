//! The PostgreSQL roles `reco_reader` and `reco_loader`: `sql/roles/postgres.sql` in one
//! transaction as the master user, a check that neither role has powers the script cannot
//! take away, then each role's password (see [`crate::ensure_password`]).

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Row as _};

use crate::{
    Account, MigrateError, POSTGRES_SQL, RoleNames, RoleReport, RoleSecret, ensure_password,
    is_plain_identifier, password, render,
};

/// The schema the loader writes to and the readers read: the one unqualified names resolve
/// to for roles without a schema of their own.
pub const SCHEMA: &str = "public";

/// SQLSTATEs of a refused login: invalid password, invalid authorization.
const AUTH_FAILED: [&str; 2] = ["28P01", "28000"];

/// The two PostgreSQL role secrets.
#[derive(Debug, Clone)]
pub struct PgRoleSecrets {
    /// Secret of `reco_reader` (JSON username, password).
    pub reader: RoleSecret,
    /// Secret of `reco_loader` (JSON username, password).
    pub loader: RoleSecret,
}

/// Creates or updates `reco_reader` and `reco_loader` in the database of `admin` (the master
/// user's connect options) and makes each role's secret hold a password that logs in; with
/// `rotate`, new passwords. `progress` gets one line per step.
pub async fn migrate(
    admin: &PgConnectOptions,
    names: &RoleNames,
    secrets: &PgRoleSecrets,
    rotate: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<RoleReport>, MigrateError> {
    let database = admin.get_database().ok_or_else(|| MigrateError::Config {
        reason: "the PostgreSQL target names no database (RECO_PG_URL's path or RECO_PG_DATABASE)"
            .to_owned(),
    })?;
    if database.contains(['"', '\0']) {
        return Err(MigrateError::Config {
            reason: format!("database name {database:?} contains a quote or NUL"),
        });
    }
    let (reader, loader) = (names.reader(), names.loader());
    let db_error = |step, next| {
        move |error| MigrateError::Database {
            role: "postgres".to_owned(),
            step,
            next,
            error,
        }
    };
    let mut conn = PgConnection::connect_with(admin).await.map_err(db_error(
        "connecting as the master user",
        "check the master secret (RECO_PG_SECRET_ARN) or RECO_PG_URL and that the database is reachable",
    ))?;
    let script = render(
        POSTGRES_SQL,
        &[
            ("reader", &reader),
            ("loader", &loader),
            ("database", &format!("\"{database}\"")),
            ("schema", SCHEMA),
        ],
    );
    debug_assert!(is_plain_identifier(&reader) && is_plain_identifier(&loader));
    let mut tx = conn.begin().await.map_err(db_error(
        "starting the transaction",
        "run `reco db migrate` again",
    ))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut *tx)
        .await
        .map_err(db_error(
            "running sql/roles/postgres.sql",
            "nothing was changed (one transaction); the master user needs CREATEROLE and to own the database or schema",
        ))?;
    tx.commit().await.map_err(db_error(
        "committing sql/roles/postgres.sql",
        "nothing was changed; run `reco db migrate` again",
    ))?;
    progress(&format!(
        "postgres: roles {reader}, {loader} and their grants in database {database} are in place"
    ));
    for role in [&reader, &loader] {
        check_role(&mut conn, role).await?;
    }

    let mut reports = Vec::new();
    for (role, secret) in [(&reader, &secrets.reader), (&loader, &secrets.loader)] {
        let mut account = PgAccount {
            admin: &mut conn,
            options: admin,
            role,
        };
        let report = ensure_password(&mut account, secret, rotate).await?;
        progress(&format!(
            "postgres: {role}: password {} (secret {})",
            report.password, report.secret
        ));
        reports.push(report);
    }
    conn.close().await.ok();
    Ok(reports)
}

/// Refuses a role with attributes or memberships only a superuser can take away.
async fn check_role(conn: &mut PgConnection, role: &str) -> Result<(), MigrateError> {
    let row = sqlx::query(
        "SELECT r.rolsuper, r.rolreplication, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid ORDER BY 1) AS member_of
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_one(&mut *conn)
    .await
    .map_err(|error| MigrateError::Database {
        role: role.to_owned(),
        step: "reading the role's attributes",
        next: "run `reco db migrate` again",
        error,
    })?;
    let mut found: Vec<String> = [
        ("SUPERUSER", "rolsuper"),
        ("REPLICATION", "rolreplication"),
        ("BYPASSRLS", "rolbypassrls"),
        ("CREATEROLE", "rolcreaterole"),
        ("CREATEDB", "rolcreatedb"),
    ]
    .into_iter()
    .filter(|(_, column)| row.get::<bool, _>(*column))
    .map(|(name, _)| name.to_owned())
    .collect();
    let member_of: Vec<String> = row.get("member_of");
    if !member_of.is_empty() {
        found.push(format!("membership of {}", member_of.join(", ")));
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::UnsafeRole {
            role: role.to_owned(),
            reason: format!("it has {}", found.join(", ")),
        })
    }
}

struct PgAccount<'a> {
    admin: &'a mut PgConnection,
    options: &'a PgConnectOptions,
    role: &'a str,
}

impl Account for PgAccount<'_> {
    fn name(&self) -> &str {
        self.role
    }

    fn engine(&self) -> &'static str {
        "postgres"
    }

    async fn set_password(&mut self, password: &str) -> Result<(), sqlx::Error> {
        // The verifier (base64, '$', ':') and the checked role name need no quoting.
        let verifier = password::scram_sha256_verifier(password);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {} PASSWORD '{verifier}'",
            self.role
        )))
        .execute(&mut *self.admin)
        .await?;
        Ok(())
    }

    async fn logs_in(&self, password: &str) -> Result<bool, sqlx::Error> {
        let options = self.options.clone().username(self.role).password(password);
        match PgConnection::connect_with(&options).await {
            Ok(conn) => {
                conn.close().await.ok();
                Ok(true)
            }
            Err(sqlx::Error::Database(e))
                if e.code().is_some_and(|c| AUTH_FAILED.contains(&c.as_ref())) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn secret_value(&self, password: &str) -> String {
        serde_json::json!({ "username": self.role, "password": password }).to_string()
    }
}
