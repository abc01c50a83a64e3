//! The certificate authorities the database connections verify servers against: the Amazon
//! RDS CA bundle built into every binary (`certs/rds-global-bundle.pem`, source named in
//! `certs/README.md`), or a PEM file named by `RECO_DB_CA_FILE` (another CA, e.g. the one
//! `make local-up` creates for the local servers).

use std::path::{Path, PathBuf};

use crate::{ConfigError, var};

/// The Amazon RDS certificate authorities of every region (`certs/rds-global-bundle.pem`),
/// built into the binaries so a Lambda zip needs no file next to it.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../../../certs/rds-global-bundle.pem");

const PEM_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";

/// Which certificate authorities a database server's certificate must chain to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DbCa {
    /// The built-in Amazon RDS CA bundle ([`RDS_CA_BUNDLE`]).
    #[default]
    Rds,
    /// A PEM file of other certificate authorities (`RECO_DB_CA_FILE`).
    File(PathBuf),
}

impl DbCa {
    /// The file when one is given (and not empty), else the RDS bundle.
    pub fn from_file(file: Option<&Path>) -> Self {
        match file {
            Some(path) if !path.as_os_str().is_empty() => Self::File(path.to_owned()),
            _ => Self::Rds,
        }
    }

    /// The PEM certificates; a file that cannot be read or holds no certificate is named.
    pub fn pem(&self) -> Result<Vec<u8>, ConfigError> {
        let path = match self {
            Self::Rds => return Ok(RDS_CA_BUNDLE.to_vec()),
            Self::File(path) => path,
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: var::RECO_DB_CA_FILE,
            value: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
        if !String::from_utf8_lossy(&pem).contains(PEM_CERTIFICATE) {
            return Err(invalid(
                "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)".to_owned(),
            ));
        }
        Ok(pem)
    }
}

impl std::fmt::Display for DbCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rds => f.write_str("the built-in Amazon RDS CA bundle"),
            Self::File(path) => write!(f, "{}={}", var::RECO_DB_CA_FILE, path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rds_bundle_is_built_in_and_a_file_overrides_it() {
        let pem = DbCa::Rds.pem().unwrap();
        let text = String::from_utf8(pem).unwrap();
        assert!(
            text.matches(PEM_CERTIFICATE).count() > 100,
            "bundle too small"
        );
        assert!(text.contains("MII"), "no base64 body");
        assert_eq!(DbCa::from_file(None), DbCa::Rds);
        assert_eq!(DbCa::from_file(Some(Path::new(""))), DbCa::Rds);

        let dir = std::env::temp_dir().join(format!("reco-config-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        std::fs::write(
            &file,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let ca = DbCa::from_file(Some(&file));
        assert_eq!(ca, DbCa::File(file.clone()));
        assert!(
            ca.pem()
                .unwrap()
                .starts_with(b"-----BEGIN CERTIFICATE-----")
        );
        assert!(ca.to_string().starts_with("RECO_DB_CA_FILE="), "{ca}");

        std::fs::write(&file, "not a certificate").unwrap();
        let err = ca.pem().unwrap_err().to_string();
        assert!(
            err.contains("RECO_DB_CA_FILE") && err.contains("no PEM"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = ca.pem().unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
