//! The MySQL / MariaDB user `reco_etl`: `sql/roles/mysql.sql` as the master user, then its
//! password (see [`crate::ensure_password`]). Its secret has the shape of the ETL's source
//! secret (`host`, `port`, `username`, `password`, `dbname`), so the ETL reads it unchanged.

use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};

use crate::{
    Account, MYSQL_SQL, MigrateError, RoleNames, RoleReport, RoleSecret, ensure_password,
    is_plain_identifier, render,
};

/// Host part of the user: the ETL connects from the VPC's subnets (private addresses that
/// change with every Lambda network interface); the security group limits who reaches 3306.
pub const USER_HOST: &str = "%";

/// Server error numbers of a refused login: access denied, account locked (MySQL, MariaDB).
const AUTH_FAILED: [u16; 3] = [1045, 3118, 4151];

/// Creates or updates `reco_etl` with SELECT on the database of `admin` (the master user's
/// connect options) and makes `secret` hold a password that logs in; with `rotate`, a new
/// one. `progress` gets one line per step.
pub async fn migrate(
    admin: &MySqlConnectOptions,
    names: &RoleNames,
    secret: &RoleSecret,
    rotate: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RoleReport, MigrateError> {
    let database = admin
        .get_database()
        .filter(|d| d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !d.is_empty())
        .ok_or_else(|| MigrateError::Config {
            reason: format!(
                "the MySQL target's database ({:?}) must be set (RECO_MYSQL_URL's path or the secret's dbname) and be letters, digits and '_'",
                admin.get_database().unwrap_or("")
            ),
        })?;
    let user = names.etl();
    debug_assert!(is_plain_identifier(&user));
    let db_error = |step, next| {
        move |error| MigrateError::Database {
            role: "mysql".to_owned(),
            step,
            next,
            error,
        }
    };
    let mut conn = MySqlConnection::connect_with(admin).await.map_err(db_error(
        "connecting as the master user",
        "check the master secret (RECO_MYSQL_SECRET_ARN) or RECO_MYSQL_URL and that the database is reachable",
    ))?;
    let script = render(MYSQL_SQL, &[("etl", &user), ("database", database)]);
    for statement in statements(&script) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .map_err(db_error(
                "running sql/roles/mysql.sql",
                "the master user needs CREATE USER and GRANT OPTION on the source database; fix it and run `reco db migrate` again",
            ))?;
    }
    progress(&format!(
        "mysql: user {user} with SELECT on {database} is in place"
    ));
    let mut account = MySqlAccount {
        admin: &mut conn,
        options: admin,
        user: &user,
    };
    let report = ensure_password(&mut account, secret, rotate).await?;
    progress(&format!(
        "mysql: {user}: password {} (secret {})",
        report.password, report.secret
    ));
    conn.close().await.ok();
    Ok(report)
}

/// The statements of a script whose statements each end a line with `;` (comment lines
/// start with `--`).
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

struct MySqlAccount<'a> {
    admin: &'a mut MySqlConnection,
    options: &'a MySqlConnectOptions,
    user: &'a str,
}

impl Account for MySqlAccount<'_> {
    fn name(&self) -> &str {
        self.user
    }

    fn engine(&self) -> &'static str {
        "mysql"
    }

    async fn set_password(&mut self, password: &str) -> Result<(), sqlx::Error> {
        // Letters and digits only (password::generate), so the literal needs no escaping;
        // MySQL rewrites the statement without the password in its logs.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER USER '{}'@'{USER_HOST}' IDENTIFIED BY '{password}' ACCOUNT UNLOCK",
            self.user
        )))
        .execute(&mut *self.admin)
        .await?;
        Ok(())
    }

    async fn logs_in(&self, password: &str) -> Result<bool, sqlx::Error> {
        let options = self.options.clone().username(self.user).password(password);
        match MySqlConnection::connect_with(&options).await {
            Ok(conn) => {
                conn.close().await.ok();
                Ok(true)
            }
            Err(sqlx::Error::Database(e))
                if e.try_downcast_ref::<MySqlDatabaseError>()
                    .is_some_and(|m| AUTH_FAILED.contains(&m.number())) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn secret_value(&self, password: &str) -> String {
        serde_json::json!({
            "host": self.options.get_host(),
            "port": self.options.get_port(),
            "username": self.user,
            "password": password,
            "dbname": self.options.get_database(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_splits_into_its_statements() {
        let script = render(MYSQL_SQL, &[("etl", "reco_etl"), ("database", "reco")]);
        let statements = statements(&script);
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert!(
            statements[0].starts_with("CREATE USER IF NOT EXISTS 'reco_etl'@'%' ACCOUNT LOCK;")
        );
        assert_eq!(
            statements[2],
            "GRANT SELECT ON `reco`.* TO 'reco_etl'@'%';\n"
        );
    }
}
