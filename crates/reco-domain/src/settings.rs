//! Settings: every environment variable reco reads, documented in one place, and the
//! layered lookup (process environment over `.local/` files) the binaries share.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Names of the environment variables reco reads. Each constant documents its variable.
pub mod var {
    /// Endpoint of the AWS emulator; unset against real AWS.
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// AWS region of every client.
    pub const AWS_REGION: &str = "AWS_REGION";
    /// Static access key (the local stack's dummy credentials); unset to use the default chain.
    pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    /// Static secret key paired with `AWS_ACCESS_KEY_ID`.
    pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    /// Optional session token paired with the static keys.
    pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    /// Which environment the `reco` CLI targets: `local` (default, reads `.local/env`) or `aws`.
    pub const RECO_ENV: &str = "RECO_ENV";
    /// Folder holding `env` and `outputs-<RECO_ENV>.env`; default: the nearest `.local/` upwards.
    pub const RECO_LOCAL_DIR: &str = "RECO_LOCAL_DIR";
    /// Source database URL (`mysql://user:pass@host:port/db`), local use.
    pub const RECO_MYSQL_URL: &str = "RECO_MYSQL_URL";
    /// Secrets Manager secret (JSON: host, port, username, password, dbname) of the source database.
    pub const RECO_MYSQL_SECRET_ARN: &str = "RECO_MYSQL_SECRET_ARN";
    /// Vector database URL (`postgres://user:pass@host:port/db`), local use.
    pub const RECO_PG_URL: &str = "RECO_PG_URL";
    /// RDS-managed master secret (JSON: username, password) of the vector database.
    pub const RECO_PG_SECRET_ARN: &str = "RECO_PG_SECRET_ARN";
    /// Vector database host, used with `RECO_PG_SECRET_ARN`.
    pub const RECO_PG_HOST: &str = "RECO_PG_HOST";
    /// Vector database port, used with `RECO_PG_SECRET_ARN`.
    pub const RECO_PG_PORT: &str = "RECO_PG_PORT";
    /// Vector database name, used with `RECO_PG_SECRET_ARN`.
    pub const RECO_PG_DATABASE: &str = "RECO_PG_DATABASE";
    /// S3 bucket of the training data lake (Parquet snapshots).
    pub const RECO_DATA_LAKE_BUCKET: &str = "RECO_DATA_LAKE_BUCKET";
    /// S3 bucket of model artifacts and embeddings.
    pub const RECO_ARTIFACTS_BUCKET: &str = "RECO_ARTIFACTS_BUCKET";
    /// Key prefix of model versions inside the artifacts bucket.
    pub const RECO_MODEL_PREFIX: &str = "RECO_MODEL_PREFIX";
    /// Training: latent factors (embedding dimension D = factors + 1; default 31).
    pub const RECO_TRAIN_FACTORS: &str = "RECO_TRAIN_FACTORS";
    /// Training: ALS iterations (default 15).
    pub const RECO_TRAIN_ITERATIONS: &str = "RECO_TRAIN_ITERATIONS";
    /// Training: L2 regularisation of the factors (default 10).
    pub const RECO_TRAIN_REGULARIZATION: &str = "RECO_TRAIN_REGULARIZATION";
    /// Training: confidence scale alpha, a pair weighs 1 + alpha * rating / 5 (default 1).
    pub const RECO_TRAIN_ALPHA: &str = "RECO_TRAIN_ALPHA";
    /// Training: seed of the initial factors (default 42).
    pub const RECO_TRAIN_SEED: &str = "RECO_TRAIN_SEED";
    /// Training gate: lowest held-out nDCG@10 for a version to become LATEST (default 0).
    pub const RECO_TRAIN_MIN_NDCG: &str = "RECO_TRAIN_MIN_NDCG";
    /// Training gate: largest relative nDCG@10 drop against the previous LATEST (default 0.10).
    pub const RECO_TRAIN_MAX_NDCG_DROP: &str = "RECO_TRAIN_MAX_NDCG_DROP";
    /// S3 bucket the delivery stream writes recommendations to.
    pub const RECO_RECS_BUCKET: &str = "RECO_RECS_BUCKET";
    /// Glue Data Catalog database of the training table.
    pub const RECO_GLUE_DATABASE: &str = "RECO_GLUE_DATABASE";
    /// Glue Data Catalog table of the training rows.
    pub const RECO_GLUE_TABLE: &str = "RECO_GLUE_TABLE";
    /// Kinesis stream of click events.
    pub const RECO_CLICK_STREAM: &str = "RECO_CLICK_STREAM";
    /// Firehose delivery stream from the click stream to the recommendations bucket.
    pub const RECO_DELIVERY_STREAM: &str = "RECO_DELIVERY_STREAM";
    /// Name of the deployed transformation Lambda.
    pub const RECO_TRANSFORM_FUNCTION: &str = "RECO_TRANSFORM_FUNCTION";
    /// Number of recommended items per event.
    pub const RECO_KNN_K: &str = "RECO_KNN_K";
    /// HNSW `ef_search` used by k-NN queries.
    pub const RECO_EF_SEARCH: &str = "RECO_EF_SEARCH";
    /// Statements a large batched k-NN query is split into, run at once.
    pub const RECO_KNN_PARALLELISM: &str = "RECO_KNN_PARALLELISM";
    /// Largest item catalogue the transform Lambda searches exactly in memory (0: always HNSW).
    pub const RECO_EXACT_KNN_MAX_ITEMS: &str = "RECO_EXACT_KNN_MAX_ITEMS";
    /// Model version the transform Lambda must use; unset: the version of the loaded embeddings.
    pub const RECO_MODEL_VERSION: &str = "RECO_MODEL_VERSION";
}

pub use crate::artifacts::DEFAULT_MODEL_PREFIX;

/// A setting that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required variable is not set in the environment nor in the `.local/` files.
    #[error("{name} is not set (export it, or run `make local-up` to write .local/env)")]
    Missing {
        /// The variable's name.
        name: String,
    },
    /// A variable is set to a value that does not parse.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A settings file exists but cannot be read or has a malformed line.
    #[error("{path}:{line}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when the file could not be read).
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Settings looked up in layers: the process environment wins over the `.local/` files.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    values: BTreeMap<String, String>,
    local_dir: Option<PathBuf>,
}

impl Settings {
    /// Settings from the process environment over the `.local/` files of the current project.
    ///
    /// With `RECO_ENV=local` (the default) the files are `.local/env` (written by
    /// `make local-up`) and then `.local/outputs-local.env` (written by `make deploy-* ENV=local`);
    /// with any other `RECO_ENV=x`, only `.local/outputs-x.env`.
    pub fn load() -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let local_dir = match lookup(var::RECO_LOCAL_DIR) {
            Some(dir) => Some(PathBuf::from(dir)),
            None => std::env::current_dir()
                .ok()
                .and_then(|d| find_local_dir(&d)),
        };
        let target = lookup(var::RECO_ENV).unwrap_or_else(|| "local".to_owned());
        let mut files = Vec::new();
        if let Some(dir) = &local_dir {
            if target == "local" {
                files.push(dir.join("env"));
            }
            files.push(dir.join(format!("outputs-{target}.env")));
        }
        let mut settings = Self::from_layers(&files, env)?;
        settings.local_dir = local_dir;
        Ok(settings)
    }

    /// The project's `.local/` folder these settings were read from (`RECO_LOCAL_DIR`, or the
    /// nearest one upwards), if any.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    /// Settings from `files` (later files override earlier ones; missing files are skipped),
    /// then `env` on top.
    pub fn from_layers(
        files: &[PathBuf],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut values = BTreeMap::new();
        for path in files {
            if path.exists() {
                values.extend(parse_env_file(path)?);
            }
        }
        values.extend(env);
        Ok(Self {
            values,
            local_dir: None,
        })
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or an error naming the variable.
    pub fn require(&self, name: &str) -> Result<&str, SettingsError> {
        self.get(name).ok_or_else(|| SettingsError::Missing {
            name: name.to_owned(),
        })
    }

    /// `name` parsed as `T`, or `default` when unset; an unparsable value is an error naming it.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| SettingsError::Invalid {
                name: name.to_owned(),
                value: raw.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Sets `name` to `value` (used by tests and by callers that derive settings).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }
}

/// The nearest `.local/` folder holding settings (`env` from `make local-up`, or an
/// `outputs-<env>.env` from a deploy), searching `start` and its parents.
pub fn find_local_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(".local"))
        .find(|d| d.join("env").is_file() || has_outputs_file(d))
}

/// Whether `dir` holds an `outputs-<env>.env` file.
fn has_outputs_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("outputs-") && n.ends_with(".env"))
        })
    })
}

/// Parses a shell-style `KEY=value` file: blank lines and `#` comments are skipped, an
/// optional `export ` prefix and matching single or double quotes around the value are removed.
pub fn parse_env_file(path: &Path) -> Result<BTreeMap<String, String>, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
        path: path.to_owned(),
        line: 0,
        reason: e.to_string(),
    })?;
    parse_env_text(&text).map_err(|(line, reason)| SettingsError::File {
        path: path.to_owned(),
        line,
        reason,
    })
}

fn parse_env_text(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut values = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((index + 1, format!("expected KEY=value, found {line:?}")));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((index + 1, format!("invalid variable name {key:?}")));
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        values.insert(key.to_owned(), unquoted.to_owned());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dir_is_found_from_a_deploy_outputs_file_alone() {
        let root =
            std::env::temp_dir().join(format!("reco-settings-local-dir-{}", std::process::id()));
        let nested = root.join("a").join("b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find_local_dir(&nested), None);
        std::fs::create_dir_all(root.join(".local")).unwrap();
        assert_eq!(
            find_local_dir(&nested),
            None,
            "an empty .local/ holds no settings"
        );
        std::fs::write(root.join(".local/outputs-aws.env"), "RECO_RECS_BUCKET=b\n").unwrap();
        assert_eq!(find_local_dir(&nested), Some(root.join(".local")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn env_file_lines_parse_with_comments_exports_and_quotes() {
        let parsed =
            parse_env_text("# comment\n\nexport A=1\nB='two words'\nC=\"x=y\"\nD=\n").unwrap();
        assert_eq!(parsed["A"], "1");
        assert_eq!(parsed["B"], "two words");
        assert_eq!(parsed["C"], "x=y");
        assert_eq!(parsed["D"], "");
    }

    #[test]
    fn malformed_line_is_reported_with_its_number() {
        let err = parse_env_text("A=1\nnot a setting\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("KEY=value"), "{}", err.1);
    }

    #[test]
    fn environment_wins_over_files_and_later_files_win() {
        let dir = std::env::temp_dir().join(format!("reco-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("env");
        let second = dir.join("outputs-local.env");
        std::fs::write(&first, "A=file1\nB=file1\nC=file1\n").unwrap();
        std::fs::write(&second, "B=file2\nC=file2\n").unwrap();
        let settings = Settings::from_layers(
            &[first, second, dir.join("missing.env")],
            [("C".to_owned(), "env".to_owned())],
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(settings.get("A"), Some("file1"));
        assert_eq!(settings.get("B"), Some("file2"));
        assert_eq!(settings.get("C"), Some("env"));
    }

    #[test]
    fn missing_and_invalid_values_name_the_variable() {
        let mut settings = Settings::default();
        settings.set(var::RECO_KNN_K, "ten");
        let missing = settings.require(var::RECO_PG_URL).unwrap_err().to_string();
        assert!(missing.contains("RECO_PG_URL"), "{missing}");
        let invalid = settings
            .parse_or::<usize>(var::RECO_KNN_K, 10)
            .unwrap_err()
            .to_string();
        assert!(invalid.contains("RECO_KNN_K=\"ten\""), "{invalid}");
        settings.set(var::RECO_KNN_K, "");
        assert_eq!(settings.parse_or::<usize>(var::RECO_KNN_K, 10).unwrap(), 10);
    }
}
