//! The `.local/` settings files and the one target-environment switch (`RECO_ENV`).
//!
//! `make local-up` writes `.local/env` (emulator endpoint, database URLs); `make deploy-*`
//! writes `.local/outputs-<env>.env` (bucket, stream and function names). A binary calls
//! [`LocalEnv::load`] first thing, before it starts threads: the files' values go into the
//! process environment under whatever is already set there, and clap then reads flags over
//! environment as for any other variable.

use std::path::{Path, PathBuf};

use crate::{ConfigError, var};

/// Where commands point: real AWS or the local stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Real AWS (the default, as for `make deploy-*`).
    Aws,
    /// The local stack (`make local-up`) and the emulator deployment (`ENV=local`).
    Local,
    /// Another named environment with its own `.local/outputs-<name>.env`.
    Named(String),
}

impl Target {
    /// The default target when `RECO_ENV` is unset: real AWS, as for `make deploy-*`.
    pub const DEFAULT: &'static str = "aws";

    /// The target named `name` (`aws`, `local` or another environment's name).
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        match name {
            "" | "aws" => Ok(Self::Aws),
            "local" => Ok(Self::Local),
            other
                if other
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Ok(Self::Named(other.to_owned()))
            }
            other => Err(ConfigError::Invalid {
                name: var::RECO_ENV,
                value: other.to_owned(),
                reason: "expected aws, local or an environment name ([A-Za-z0-9_-])".to_owned(),
            }),
        }
    }

    /// The name used in file names (`outputs-<name>.env`).
    pub fn name(&self) -> &str {
        match self {
            Self::Aws => "aws",
            Self::Local => "local",
            Self::Named(n) => n,
        }
    }

    /// The settings files of this target in `dir`, lowest priority first.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if *self == Self::Local {
            files.push(dir.join("env"));
        }
        files.push(dir.join(format!("outputs-{}.env", self.name())));
        files
    }
}

/// What [`LocalEnv::load`] found: the target and the files it read.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    /// The target environment.
    pub target: Target,
    /// The project's `.local/` folder (`RECO_LOCAL_DIR`, or the nearest one upwards), if any.
    pub dir: Option<PathBuf>,
    /// The settings files that existed and were read, lowest priority first.
    pub files: Vec<PathBuf>,
}

impl LocalEnv {
    /// Reads the target's `.local/` files into the process environment without overriding
    /// what is set there (the environment wins; among files, later ones win).
    ///
    /// Call it before any thread starts (first thing in `main`, before the async runtime):
    /// it sets environment variables.
    pub fn load() -> Result<Self, ConfigError> {
        let target = Target::parse(&std::env::var(var::RECO_ENV).unwrap_or_default())?;
        let dir = match std::env::var_os(var::RECO_LOCAL_DIR) {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => std::env::current_dir()
                .ok()
                .and_then(|d| find_local_dir(&d)),
        };
        let mut files = Vec::new();
        if let Some(dir) = &dir {
            files = target.files(dir);
            files.retain(|f| f.is_file());
            // dotenvy never overrides a variable already set: loading the highest-priority
            // file first makes later files win over earlier ones, and the environment over all.
            for file in files.iter().rev() {
                dotenvy::from_path(file).map_err(|e| ConfigError::File {
                    path: file.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(Self { target, dir, files })
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

fn has_outputs_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("outputs-") && n.ends_with(".env"))
        })
    })
}

/// Reads a settings file into `(name, value)` pairs without touching the environment
/// (for tools and tests that need a file's values).
pub fn read_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let file = |e: dotenvy::Error| ConfigError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    dotenvy::from_path_iter(path)
        .map_err(file)?
        .map(|item| item.map_err(file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("reco-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn local_dir_is_found_from_a_deploy_outputs_file_alone() {
        let root = temp_dir("find");
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
    fn targets_parse_with_aws_as_the_one_default() {
        assert_eq!(Target::parse("").unwrap(), Target::Aws);
        assert_eq!(Target::parse(Target::DEFAULT).unwrap(), Target::Aws);
        assert_eq!(Target::parse("local").unwrap(), Target::Local);
        assert_eq!(Target::parse("staging").unwrap().name(), "staging");
        let err = Target::parse("../x").unwrap_err().to_string();
        assert!(err.contains("RECO_ENV"), "{err}");
        let dir = Path::new("/p/.local");
        assert_eq!(
            Target::Local.files(dir),
            vec![dir.join("env"), dir.join("outputs-local.env")]
        );
        assert_eq!(Target::Aws.files(dir), vec![dir.join("outputs-aws.env")]);
    }

    #[test]
    fn files_parse_with_comments_exports_and_quotes_and_name_bad_lines() {
        let dir = temp_dir("parse");
        let good = dir.join("env");
        std::fs::write(
            &good,
            "# comment\n\nexport A=1\nB='two words'\nC=\"x=y\"\nD=\n",
        )
        .unwrap();
        let values = read_file(&good).unwrap();
        let get = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("x=y"));
        assert_eq!(get("D"), Some(""));
        let bad = dir.join("bad.env");
        std::fs::write(&bad, "A=1\nnot a setting\n").unwrap();
        let err = read_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.env"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_values_name_the_variable_and_what_to_do() {
        let err = crate::required(var::RECO_DATA_LAKE_BUCKET, &None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RECO_DATA_LAKE_BUCKET"), "{err}");
        assert!(err.contains("make deploy-etl"), "{err}");
        assert!(crate::required(var::RECO_PG_URL, &Some(String::new())).is_err());
        assert_eq!(
            crate::required(var::RECO_PG_URL, &Some("postgres://x".into())).unwrap(),
            "postgres://x"
        );
    }
}
