//! Errors of the vector store's readers.

use std::borrow::Cow;

/// Why a vector-store call failed. [`StoreError::is_retryable`] tells a caller (the Lambda)
/// whether the same call may succeed later (database unreachable) or never will (bad request).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or dropped the connection (network, TLS, pool timeout,
    /// server shutting down or out of connections). Retryable.
    #[error("vector database unreachable: {source}")]
    Unavailable {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The request itself is wrong (e.g. a query vector whose dimension differs from the
    /// loaded embeddings). Not retryable.
    #[error("bad k-NN request: {reason}")]
    BadRequest {
        /// What was wrong, naming the request when known.
        reason: String,
    },
    /// The server's TLS certificate was not accepted: it does not chain to the certificate
    /// authorities the connection trusts (the built-in Amazon RDS bundle, `RECO_DB_CA_FILE`,
    /// or the URL's `sslrootcert`) or does not name the host (`verify-full`). Retryable like
    /// an outage (the fix, a CA bundle or host name, lands outside this process), but logged
    /// as what it is.
    #[error(
        "the vector database's TLS certificate was not accepted: {source} (it must chain to the \
         trusted CA, the built-in Amazon RDS bundle or RECO_DB_CA_FILE / the URL's sslrootcert, \
         and name the host)"
    )]
    Certificate {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database refused the user name or password (SQLSTATE class 28: 28P01 wrong
    /// password, 28000 no such role or no `pg_hba.conf` entry). Not retryable as is: a password
    /// rotated while the process runs is picked up by [`crate::VectorStore::refresh_credentials`],
    /// after which the same call may succeed.
    #[error(
        "the vector database refused the credentials: {source} (a rotated password is re-read \
         from its secret by refresh_credentials; otherwise fix the user or password in the \
         secret or RECO_PG_URL)"
    )]
    Authentication {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// No embeddings have been loaded into this database yet (`item_emb` does not exist).
    #[error("no embeddings loaded (run `reco load-embeddings` or sql/embeddings.sql first)")]
    NoActiveVersion,
    /// The connection settings are missing or malformed (e.g. the database secret).
    #[error("vector database settings: {reason}")]
    Config {
        /// What was wrong, naming the setting.
        reason: String,
    },
    /// Any other database error (a bug or a schema problem). Not retryable.
    #[error("vector database query failed: {source}")]
    Query {
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Whether retrying the same call later may succeed (the database was unreachable, or
    /// its certificate refused).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Certificate { .. }
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(source: sqlx::Error) -> Self {
        match classify(&source) {
            ErrorClass::Unavailable => StoreError::Unavailable { source },
            ErrorClass::Authentication => StoreError::Authentication { source },
            ErrorClass::Certificate => StoreError::Certificate { source },
            ErrorClass::UndefinedTable => StoreError::NoActiveVersion,
            ErrorClass::BadData(message) => StoreError::BadRequest { reason: message },
            ErrorClass::Other => StoreError::Query { source },
        }
    }
}

enum ErrorClass {
    Unavailable,
    Authentication,
    Certificate,
    UndefinedTable,
    BadData(String),
    Other,
}

fn classify(error: &sqlx::Error) -> ErrorClass {
    match error {
        // TLS set-up (certificates that do not parse), and the handshake's verdict on the
        // server's certificate, which rustls reports through the socket as an I/O error.
        sqlx::Error::Tls(_) => ErrorClass::Certificate,
        sqlx::Error::Io(e) if e.to_string().contains("invalid peer certificate") => {
            ErrorClass::Certificate
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorClass::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or(Cow::Borrowed(""));
            match code.as_ref() {
                // Class 08 connection exception, 57P01..57P03 shutdown / cannot connect now,
                // 53300 too many connections (PostgreSQL "Appendix A. Error Codes").
                c if c.starts_with("08") => ErrorClass::Unavailable,
                "57P01" | "57P02" | "57P03" | "53300" => ErrorClass::Unavailable,
                // Class 28 invalid authorization specification: 28P01 invalid password,
                // 28000 unknown role or no pg_hba.conf entry.
                c if c.starts_with("28") => ErrorClass::Authentication,
                "42P01" => ErrorClass::UndefinedTable,
                // Class 22 data exception: pgvector raises 22000 for "different vector
                // dimensions", and rejects NaN / infinite elements with class 22 too.
                c if c.starts_with("22") => ErrorClass::BadData(db.message().to_owned()),
                _ => ErrorClass::Other,
            }
        }
        _ => ErrorClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server error with just a SQLSTATE, as the driver reports one.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "server error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn from_code(code: &'static str) -> StoreError {
        StoreError::from(sqlx::Error::Database(Box::new(Sqlstate(code))))
    }

    #[test]
    fn refused_credentials_are_authentication_errors_not_retried_as_is() {
        for code in ["28P01", "28000"] {
            let error = from_code(code);
            assert!(
                matches!(error, StoreError::Authentication { .. }),
                "{code}: {error:?}"
            );
            assert!(!error.is_retryable(), "{code}");
            let message = error.to_string();
            assert!(
                message.contains("refused the credentials") && message.contains("refresh"),
                "{message}"
            );
        }
        assert!(matches!(from_code("08006"), StoreError::Unavailable { .. }));
        let refused_certificate = StoreError::from(sqlx::Error::Io(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        )));
        assert!(
            matches!(refused_certificate, StoreError::Certificate { .. })
                && refused_certificate.is_retryable(),
            "{refused_certificate:?}"
        );
        assert!(refused_certificate.to_string().contains("RECO_DB_CA_FILE"));
        assert!(matches!(from_code("42501"), StoreError::Query { .. }));
    }
}
