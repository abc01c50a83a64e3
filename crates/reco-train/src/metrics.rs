//! `metrics.json`: what a run measured (the hyper-parameter search, held-out evaluation of the
//! challenger and of the champion on the same split, gate, timings, memory).

use reco_domain::model::TrainingMetadata;
use serde::{Deserialize, Serialize};

use crate::gate::{ChampionEvaluation, Gate};
use crate::offline::EvalReport;
use crate::tuning::TuningReport;

/// `metrics.json`: what the run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// The version these metrics belong to.
    pub model_version: String,
    /// Held-out evaluation: model next to most-popular.
    pub evaluation: EvalReport,
    /// The hyper-parameter search (tried settings, validation nDCG@10, winner, seconds).
    #[serde(default)]
    pub tuning: Option<TuningReport>,
    /// The live version measured on the same held-out split, when there was one.
    #[serde(default)]
    pub champion: Option<ChampionEvaluation>,
    /// The quality gate.
    pub gate: Gate,
    /// Training metadata of the full model.
    pub training: TrainingMetadata,
    /// Seconds spent fitting the full model.
    pub full_train_seconds: f64,
    /// Peak resident memory of the process (kB, Linux `VmHWM`), when known.
    pub peak_memory_kb: Option<u64>,
}

/// Peak resident memory of this process in kB (Linux), `None` elsewhere.
pub fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kb(&status)
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in kB.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_from_the_vm_hwm_line() {
        let status = "Name:\treco\nVmPeak:\t  20000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(vm_hwm_kb(status), Some(12_345));
        assert_eq!(vm_hwm_kb("Name:\treco\n"), None);
    }
}
