//! A/B experiments between two model versions: the state an operator writes, the audit trail of
//! every change, and the deterministic assignment of a customer to a variant.
//!
//! ```text
//! <artifacts bucket>/<model prefix>experiments/current.json                         ExperimentState
//! <artifacts bucket>/<model prefix>experiments/audit/<name>/<rfc3339>-<action>.json   AuditEntry
//! ```
//! At most one experiment runs at a time. `current.json` is replaced with conditional puts
//! (`If-None-Match` for the first write, `If-Match` on the ETag after), so two operators cannot
//! overwrite each other; audit entries are written once and never replaced.
//!
//! Assignment ([`assign`]) is a pure function of the experiment's name, the customer number and
//! the treatment share: the transform Lambda, `score-all` and any analysis agree on every
//! customer's variant without sharing a table, and raising the share only moves control
//! customers into treatment (a customer in treatment at 10 % stays there at 50 %).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::artifacts::ModelPrefix;

/// Layout version of [`ExperimentState`] and [`AuditEntry`]; a reader refuses newer ones.
pub const EXPERIMENT_SCHEMA: u32 = 1;

/// Folder (under the model prefix) of the experiment state and its audit trail.
pub const EXPERIMENTS_FOLDER: &str = "experiments/";

/// File name of the running experiment's state.
pub const CURRENT_FILE: &str = "current.json";

/// Longest experiment name (it is part of audit keys and of every record's `experiment`).
pub const MAX_NAME_CHARS: usize = 40;

/// Key of the experiment state: `<model prefix>experiments/current.json`.
pub fn current_key(prefix: &ModelPrefix) -> String {
    format!("{}{EXPERIMENTS_FOLDER}{CURRENT_FILE}", prefix.as_str())
}

/// Key prefix of `name`'s audit entries: `<model prefix>experiments/audit/<name>/`.
pub fn audit_prefix(prefix: &ModelPrefix, name: &str) -> String {
    format!("{}{EXPERIMENTS_FOLDER}audit/{name}/", prefix.as_str())
}

/// Key of one audit entry: `<audit prefix><at>-<action>.json` (RFC 3339 sorts as text, so a
/// listing is the history in order).
pub fn audit_key(prefix: &ModelPrefix, entry: &AuditEntry) -> String {
    format!(
        "{}{}-{}.json",
        audit_prefix(prefix, &entry.experiment),
        entry.at,
        entry.action.as_str()
    )
}

/// The side of an experiment a customer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Served by the control model version (the active one unless the experiment names one).
    Control,
    /// Served by the treatment model version.
    Treatment,
}

impl Variant {
    /// `control` or `treatment`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Control => "control",
            Variant::Treatment => "treatment",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The variant of `customer_number` in experiment `experiment_name` with `treatment_share` of
/// customers in treatment: SHA-256 of `"{experiment_name}:{customer_number}"`, its first 8
/// bytes as a big-endian `u64` `u`; treatment when `u / 2^64 < treatment_share`.
///
/// Deterministic and independent across experiments (the name is hashed in), monotone in the
/// share (a treatment customer stays in treatment when the share grows).
pub fn assign(experiment_name: &str, customer_number: i64, treatment_share: f64) -> Variant {
    let mut hasher = Sha256::new();
    hasher.update(experiment_name.as_bytes());
    hasher.update(b":");
    hasher.update(customer_number.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let u = u64::from_be_bytes(first);
    // u / 2^64 in [0, 1); f64 keeps 53 bits, plenty for a share.
    let position = u as f64 / 18_446_744_073_709_551_616.0;
    if position < treatment_share {
        Variant::Treatment
    } else {
        Variant::Control
    }
}

/// Bad experiment input or a state change that the current state does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExperimentError {
    /// The name is not 1-40 characters of `a-z`, `0-9` and `-`.
    #[error(
        "experiment name {name:?} is not valid: use 1-{MAX_NAME_CHARS} characters of a-z, 0-9 and -"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The share is not a number in [0, 1].
    #[error("treatment share {share} is not valid: give a fraction between 0 and 1 (0.1 = 10 %)")]
    InvalidShare {
        /// The share given.
        share: f64,
    },
    /// A model version is empty or not a plain folder name.
    #[error("model version {version:?} is not valid: give the folder name `reco train` printed")]
    InvalidVersion {
        /// The version given.
        version: String,
    },
    /// Control and treatment name the same version.
    #[error("control and treatment are the same model version {version}: nothing to compare")]
    SameVersion {
        /// The version.
        version: String,
    },
    /// Another experiment runs already.
    #[error("experiment {running} is running: stop it first (`reco experiment stop {running}`)")]
    AlreadyRunning {
        /// The running experiment.
        running: String,
    },
    /// The named experiment is not the running one.
    #[error("experiment {name} is not running{}", running_hint(.running))]
    NotRunning {
        /// The name given.
        name: String,
        /// The running experiment, if any.
        running: Option<String>,
    },
    /// Not JSON of the state's or entry's shape.
    #[error("experiment file is not valid: {reason}")]
    Malformed {
        /// The parser's message.
        reason: String,
    },
    /// Written by a newer reco.
    #[error("experiment file schema {found} is newer than this reader's {supported}; upgrade reco")]
    NewerSchema {
        /// The file's version.
        found: u32,
        /// The highest version understood here.
        supported: u32,
    },
}

fn running_hint(running: &Option<String>) -> String {
    match running {
        Some(r) => format!(" (the running experiment is {r})"),
        None => " (no experiment is running)".to_owned(),
    }
}

/// Checks an experiment name: 1-40 characters of `a-z`, `0-9`, `-`.
pub fn validate_name(name: &str) -> Result<(), ExperimentError> {
    let ok = (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ExperimentError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Checks a treatment share: a finite number in [0, 1].
pub fn validate_share(share: f64) -> Result<(), ExperimentError> {
    if share.is_finite() && (0.0..=1.0).contains(&share) {
        Ok(())
    } else {
        Err(ExperimentError::InvalidShare { share })
    }
}

/// Checks a model version: a non-empty folder name (no `/`, no whitespace, not `.`/`..`).
pub fn validate_version(version: &str) -> Result<(), ExperimentError> {
    let ok = !version.is_empty()
        && version != "."
        && version != ".."
        && !version.contains('/')
        && !version.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ExperimentError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

/// A running experiment: two model versions and the share of customers on the treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// `[a-z0-9-]{1,40}`: stamped on every record and document it served.
    pub name: String,
    /// The control's model version; `None` = whatever version is active (the live model).
    pub control_model_version: Option<String>,
    /// The treatment's model version.
    pub treatment_model_version: String,
    /// Fraction of customers in treatment, in [0, 1].
    pub treatment_share: f64,
    /// When it started (RFC 3339 UTC).
    pub started_at: String,
    /// When it last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// Who started it (caller identity).
    pub started_by: String,
}

impl Experiment {
    /// `customer_number`'s variant ([`assign`] with this experiment's name and share).
    pub fn variant_of(&self, customer_number: i64) -> Variant {
        assign(&self.name, customer_number, self.treatment_share)
    }

    /// The model version serving `variant`, with `active` standing for a control of `None`.
    pub fn model_version<'a>(&'a self, variant: Variant, active: &'a str) -> &'a str {
        match variant {
            Variant::Treatment => &self.treatment_model_version,
            Variant::Control => self.control_model_version.as_deref().unwrap_or(active),
        }
    }

    /// Every model version the experiment names (what the loader must keep loaded).
    pub fn named_versions(&self) -> Vec<&str> {
        let mut versions = vec![self.treatment_model_version.as_str()];
        versions.extend(self.control_model_version.as_deref());
        versions
    }

    fn validate(&self) -> Result<(), ExperimentError> {
        validate_name(&self.name)?;
        validate_share(self.treatment_share)?;
        validate_version(&self.treatment_model_version)?;
        if let Some(control) = &self.control_model_version {
            validate_version(control)?;
            if *control == self.treatment_model_version {
                return Err(ExperimentError::SameVersion {
                    version: control.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The content of `current.json`: the running experiment, or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentState {
    /// [`EXPERIMENT_SCHEMA`].
    pub schema_version: u32,
    /// The running experiment; `None` after a stop.
    pub experiment: Option<Experiment>,
}

impl Default for ExperimentState {
    fn default() -> Self {
        Self::none()
    }
}

/// What changed an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentAction {
    /// `reco experiment start`.
    Start,
    /// `reco experiment share`.
    Share,
    /// `reco experiment stop`.
    Stop,
}

impl ExperimentAction {
    /// `start`, `share` or `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentAction::Start => "start",
            ExperimentAction::Share => "share",
            ExperimentAction::Stop => "stop",
        }
    }
}

/// One immutable audit object: who did what to which experiment, with the state before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// [`EXPERIMENT_SCHEMA`].
    pub schema_version: u32,
    /// The experiment's name.
    pub experiment: String,
    /// What was done.
    pub action: ExperimentAction,
    /// When (RFC 3339 UTC, milliseconds).
    pub at: String,
    /// Who (caller identity).
    pub by: String,
    /// The experiment before (`None` for a start).
    pub before: Option<Experiment>,
    /// The experiment after (`None` for a stop).
    pub after: Option<Experiment>,
}

impl AuditEntry {
    /// The entry as pretty JSON.
    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses an entry, refusing a newer schema.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ExperimentError> {
        check_schema(bytes)?;
        serde_json::from_slice(bytes).map_err(|e| ExperimentError::Malformed {
            reason: e.to_string(),
        })
    }
}

fn check_schema(bytes: &[u8]) -> Result<(), ExperimentError> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: u32,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| ExperimentError::Malformed {
            reason: e.to_string(),
        })?;
    if version.schema_version > EXPERIMENT_SCHEMA {
        return Err(ExperimentError::NewerSchema {
            found: version.schema_version,
            supported: EXPERIMENT_SCHEMA,
        });
    }
    Ok(())
}

/// A state change to write: the new state and its audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What `current.json` becomes.
    pub state: ExperimentState,
    /// The audit entry recording it.
    pub audit: AuditEntry,
}

/// What `reco experiment start` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    /// Experiment name.
    pub name: String,
    /// Treatment model version.
    pub treatment_model_version: String,
    /// Control model version (`None` = the active one).
    pub control_model_version: Option<String>,
    /// Share of customers in treatment.
    pub treatment_share: f64,
}

impl ExperimentState {
    /// No experiment.
    pub fn none() -> Self {
        Self {
            schema_version: EXPERIMENT_SCHEMA,
            experiment: None,
        }
    }

    /// The state as pretty JSON.
    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses `current.json`, refusing a newer schema or an invalid experiment.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ExperimentError> {
        check_schema(bytes)?;
        let state: Self =
            serde_json::from_slice(bytes).map_err(|e| ExperimentError::Malformed {
                reason: e.to_string(),
            })?;
        if let Some(experiment) = &state.experiment {
            experiment.validate()?;
        }
        Ok(state)
    }

    /// Starts `request` at `now` by `by`; refused while another experiment runs.
    pub fn start(
        &self,
        request: StartRequest,
        now: &str,
        by: &str,
    ) -> Result<Change, ExperimentError> {
        if let Some(running) = &self.experiment {
            return Err(ExperimentError::AlreadyRunning {
                running: running.name.clone(),
            });
        }
        let experiment = Experiment {
            name: request.name,
            control_model_version: request.control_model_version,
            treatment_model_version: request.treatment_model_version,
            treatment_share: request.treatment_share,
            started_at: now.to_owned(),
            updated_at: now.to_owned(),
            started_by: by.to_owned(),
        };
        experiment.validate()?;
        Ok(Change {
            audit: AuditEntry {
                schema_version: EXPERIMENT_SCHEMA,
                experiment: experiment.name.clone(),
                action: ExperimentAction::Start,
                at: now.to_owned(),
                by: by.to_owned(),
                before: None,
                after: Some(experiment.clone()),
            },
            state: Self {
                schema_version: EXPERIMENT_SCHEMA,
                experiment: Some(experiment),
            },
        })
    }

    /// Sets the running experiment `name`'s treatment share.
    pub fn set_share(
        &self,
        name: &str,
        share: f64,
        now: &str,
        by: &str,
    ) -> Result<Change, ExperimentError> {
        validate_share(share)?;
        let before = self.running(name)?;
        let mut after = before.clone();
        after.treatment_share = share;
        after.updated_at = now.to_owned();
        Ok(Change {
            audit: AuditEntry {
                schema_version: EXPERIMENT_SCHEMA,
                experiment: name.to_owned(),
                action: ExperimentAction::Share,
                at: now.to_owned(),
                by: by.to_owned(),
                before: Some(before.clone()),
                after: Some(after.clone()),
            },
            state: Self {
                schema_version: EXPERIMENT_SCHEMA,
                experiment: Some(after),
            },
        })
    }

    /// Stops the running experiment `name` (every customer goes back to the active model).
    pub fn stop(&self, name: &str, now: &str, by: &str) -> Result<Change, ExperimentError> {
        let before = self.running(name)?;
        Ok(Change {
            audit: AuditEntry {
                schema_version: EXPERIMENT_SCHEMA,
                experiment: name.to_owned(),
                action: ExperimentAction::Stop,
                at: now.to_owned(),
                by: by.to_owned(),
                before: Some(before.clone()),
                after: None,
            },
            state: Self::none(),
        })
    }

    fn running(&self, name: &str) -> Result<&Experiment, ExperimentError> {
        validate_name(name)?;
        match &self.experiment {
            Some(e) if e.name == name => Ok(e),
            other => Err(ExperimentError::NotRunning {
                name: name.to_owned(),
                running: other.as_ref().map(|e| e.name.clone()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(share: f64) -> StartRequest {
        StartRequest {
            name: "towers-v2".into(),
            treatment_model_version: "v2".into(),
            control_model_version: None,
            treatment_share: share,
        }
    }

    #[test]
    fn assignment_is_deterministic_and_matches_known_values() {
        // Reference: python3 -c 'import hashlib; d=hashlib.sha256(b"exp-a:103").digest();
        // print(int.from_bytes(d[:8], "big") / 2**64)'
        for customer in [103_i64, 0, -7, 496] {
            assert_eq!(
                assign("exp-a", customer, 0.3),
                assign("exp-a", customer, 0.3)
            );
        }
        assert_eq!(assign("exp-a", 103, 0.0), Variant::Control);
        assert_eq!(assign("exp-a", 103, 1.0), Variant::Treatment);
        for (name, customer, position) in KNOWN_POSITIONS {
            let below = (position - 1e-9).max(0.0);
            let above = (position + 1e-9).min(1.0);
            assert_eq!(
                assign(name, *customer, below),
                Variant::Control,
                "{name}:{customer}"
            );
            assert_eq!(
                assign(name, *customer, above),
                Variant::Treatment,
                "{name}:{customer}"
            );
        }
    }

    /// `u / 2^64` of SHA-256("{name}:{customer}")'s first 8 bytes, computed with Python's hashlib.
    const KNOWN_POSITIONS: &[(&str, i64, f64)] = &[
        ("exp-a", 103, 0.741_451_732_307_497_2),
        ("exp-a", -7, 0.683_075_217_002_702_2),
        ("towers-v2", 496, 0.456_364_218_985_221_45),
        ("towers-v2", 0, 0.893_881_946_156_415_7),
    ];

    #[test]
    fn shares_hold_over_many_customers_and_growing_only_moves_control_to_treatment() {
        for share in [0.1, 0.5] {
            let treated = (0..100_000_i64)
                .filter(|c| assign("share-check", *c, share) == Variant::Treatment)
                .count();
            let observed = treated as f64 / 100_000.0;
            // 4 standard deviations of a binomial share over 100k customers: < 0.007.
            assert!(
                (observed - share).abs() < 0.007,
                "share {share}: observed {observed}"
            );
        }
        for customer in 0..10_000_i64 {
            if assign("grow", customer, 0.1) == Variant::Treatment {
                assert_eq!(assign("grow", customer, 0.5), Variant::Treatment);
            }
        }
        // Another experiment's name reshuffles customers (independent experiments).
        let same = (0..10_000_i64)
            .filter(|c| assign("exp-a", *c, 0.5) == assign("exp-b", *c, 0.5))
            .count();
        assert!((4_500..5_500).contains(&same), "{same}");
    }

    #[test]
    fn an_a_a_experiment_splits_customers_between_two_names_of_the_same_model() {
        // A/A: control and treatment both resolve to the active version when the treatment
        // names it; assignment still splits and stamps customers.
        let state = ExperimentState::none()
            .start(
                StartRequest {
                    control_model_version: Some("v1".into()),
                    treatment_model_version: "v1".into(),
                    ..request(0.5)
                },
                "t",
                "me",
            )
            .unwrap_err();
        assert!(matches!(state, ExperimentError::SameVersion { .. }));
        let change = ExperimentState::none()
            .start(request(0.5), "t0", "me")
            .unwrap();
        let experiment = change.state.experiment.unwrap();
        assert_eq!(experiment.model_version(Variant::Control, "v1"), "v1");
        assert_eq!(experiment.model_version(Variant::Treatment, "v1"), "v2");
        assert_eq!(experiment.named_versions(), ["v2"]);
        let treated = (0..1000)
            .filter(|c| experiment.variant_of(*c) == Variant::Treatment)
            .count();
        assert!((400..600).contains(&treated), "{treated}");
    }

    #[test]
    fn names_shares_and_versions_are_validated() {
        for good in ["a", "towers-v2", &"x".repeat(40)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Towers", "a_b", "a b", "é", &"x".repeat(41)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        for good in [0.0, 0.1, 1.0] {
            assert!(validate_share(good).is_ok());
        }
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(validate_share(bad).is_err());
        }
        assert!(validate_version("20261201T000000Z").is_ok());
        for bad in ["", "a/b", "..", "a b"] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
        let err = ExperimentState::none()
            .start(request(1.5), "t", "me")
            .unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"), "{err}");
    }

    #[test]
    fn start_share_stop_change_the_state_and_record_before_and_after() {
        let started = ExperimentState::none()
            .start(request(0.1), "t0", "ops@host")
            .unwrap();
        assert_eq!(started.audit.action, ExperimentAction::Start);
        assert_eq!(started.audit.before, None);
        let running = started.state;
        let again = running.start(request(0.2), "t1", "other").unwrap_err();
        assert_eq!(
            again.to_string(),
            "experiment towers-v2 is running: stop it first (`reco experiment stop towers-v2`)"
        );
        let shared = running
            .set_share("towers-v2", 0.5, "t2", "ops@host")
            .unwrap();
        let after = shared.state.experiment.clone().unwrap();
        assert_eq!(after.treatment_share, 0.5);
        assert_eq!(
            (after.started_at.as_str(), after.updated_at.as_str()),
            ("t0", "t2")
        );
        assert_eq!(shared.audit.before.as_ref().unwrap().treatment_share, 0.1);
        let wrong = shared.state.stop("other-name", "t3", "me").unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("the running experiment is towers-v2"),
            "{wrong}"
        );
        let stopped = shared.state.stop("towers-v2", "t3", "me").unwrap();
        assert_eq!(stopped.state, ExperimentState::none());
        assert_eq!(stopped.audit.after, None);
        let prefix = ModelPrefix::new("models");
        assert_eq!(current_key(&prefix), "models/experiments/current.json");
        assert_eq!(
            audit_key(&prefix, &stopped.audit),
            "models/experiments/audit/towers-v2/t3-stop.json"
        );
        let none = ExperimentState::none()
            .stop("towers-v2", "t", "me")
            .unwrap_err();
        assert!(
            none.to_string().contains("no experiment is running"),
            "{none}"
        );
    }

    #[test]
    fn state_and_audit_round_trip_and_refuse_newer_or_invalid_files() {
        let change = ExperimentState::none()
            .start(request(0.1), "t0", "me")
            .unwrap();
        let bytes = change.state.to_json_vec();
        assert_eq!(
            ExperimentState::from_json_slice(&bytes).unwrap(),
            change.state
        );
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value["experiment"]["control_model_version"],
            serde_json::Value::Null
        );
        assert_eq!(value["experiment"]["treatment_share"], 0.1);
        let none = ExperimentState::from_json_slice(br#"{"schema_version":1,"experiment":null}"#);
        assert_eq!(none.unwrap(), ExperimentState::none());
        assert!(matches!(
            ExperimentState::from_json_slice(br#"{"schema_version":2,"experiment":null}"#),
            Err(ExperimentError::NewerSchema { found: 2, .. })
        ));
        let mut invalid = value.clone();
        invalid["experiment"]["treatment_share"] = serde_json::json!(3.0);
        assert!(matches!(
            ExperimentState::from_json_slice(&serde_json::to_vec(&invalid).unwrap()),
            Err(ExperimentError::InvalidShare { .. })
        ));
        let audit = AuditEntry::from_json_slice(&change.audit.to_json_vec()).unwrap();
        assert_eq!(audit, change.audit);
        assert_eq!(
            serde_json::to_value(Variant::Treatment).unwrap(),
            serde_json::json!("treatment")
        );
    }
}
