//! `reco experiment` and `reco load-embeddings --inactive` against the local stack: a
//! treatment whose embeddings are not loaded is refused with the command that loads them;
//! start / share / stop change `current.json` and leave one audit object each; a second start
//! while one runs, and two starts racing, leave exactly one experiment.
#![cfg(feature = "integration")]

use std::fmt::Write as _;
use std::process::{Command, Output};

use object_store::ObjectStoreExt as _;
use reco_aws::ObjectPath;
use reco_config::var;
use reco_domain::experiment::{ExperimentAction, ExperimentState};
use reco_testkit::LocalStack;

const DIM: usize = 8;

fn reco(env: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reco"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("cannot run reco")
}

fn ok(env: &[(&str, String)], args: &[&str]) -> String {
    let out = reco(env, args);
    assert!(
        out.status.success(),
        "reco {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(env: &[(&str, String)], args: &[&str]) -> String {
    let out = reco(env, args);
    assert!(!out.status.success(), "reco {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn embeddings(header: &str, ids: impl Iterator<Item = String>, seed: usize) -> String {
    let mut csv = format!("{header}\n");
    for (i, id) in ids.enumerate() {
        let v: Vec<String> = (0..DIM)
            .map(|d| {
                format!(
                    "{:.3}",
                    (((i + 1) * (d + 3) * (seed + 7)) % 17) as f32 / 17.0 + 0.01
                )
            })
            .collect();
        writeln!(csv, "{id},\"[{}]\"", v.join(",")).unwrap();
    }
    csv
}

#[tokio::test]
async fn experiments_start_share_stop_with_an_audit_trail_and_refuse_conflicts() {
    let stack = LocalStack::get();
    let pg = stack.pg_database().await;
    let artifacts = stack.s3_bucket().await;
    let bucket = stack.bucket(&artifacts.name);
    for (prefix, version, seed) in [("models", "v1", 1), ("models", "v2", 2), ("race", "v2", 2)] {
        let model = format!(
            r#"{{"format_version":1,"model_version":"{version}","dim":{DIM},"factors":{}}}"#,
            DIM - 1
        );
        let items = embeddings("id,embedding", (0..30).map(|i| format!("P{i:03}")), seed);
        let users = embeddings("id,embedding", (100..110).map(|i| i.to_string()), seed);
        for (file, body) in [
            ("model.json", model),
            ("item_embeddings.csv", items),
            ("user_embeddings.csv", users),
        ] {
            let key = ObjectPath::from(format!("{prefix}/{version}/{file}"));
            bucket.store().put(&key, body.into()).await.unwrap();
        }
    }
    let env = vec![
        (var::RECO_ENV, "local".to_owned()),
        (var::RECO_PG_URL, pg.url.clone()),
        (var::RECO_ARTIFACTS_BUCKET, artifacts.name.clone()),
        (
            var::RECO_LOCAL_DIR,
            stack.root().join(".local").display().to_string(),
        ),
    ];
    ok(&env, &["load-embeddings", "--model", "v1"]);

    // The treatment must exist and have its embeddings loaded.
    let err = refused(
        &env,
        &[
            "experiment",
            "start",
            "exp-a",
            "--treatment",
            "v9",
            "--share",
            "0.1",
        ],
    );
    assert!(err.contains("v9") && err.contains("model.json"), "{err}");
    let err = refused(
        &env,
        &[
            "experiment",
            "start",
            "exp-a",
            "--treatment",
            "v2",
            "--share",
            "0.1",
        ],
    );
    assert!(
        err.contains("reco load-embeddings --model v2 --inactive"),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "experiment",
            "start",
            "Bad_Name",
            "--treatment",
            "v2",
            "--share",
            "0.1",
        ],
    );
    assert!(err.contains("a-z, 0-9 and -"), "{err}");
    let loaded = ok(&env, &["load-embeddings", "--model", "v2", "--inactive"]);
    assert!(
        loaded.contains("model_version=v2") && loaded.contains("active=false"),
        "{loaded}"
    );

    let started = ok(
        &env,
        &[
            "experiment",
            "start",
            "exp-a",
            "--treatment",
            "v2",
            "--share",
            "0.1",
        ],
    );
    assert!(
        started.contains("exp-a") && started.contains("10.0 %"),
        "{started}"
    );
    let err = refused(
        &env,
        &[
            "experiment",
            "start",
            "exp-b",
            "--treatment",
            "v2",
            "--share",
            "0.1",
        ],
    );
    assert!(err.contains("experiment exp-a is running"), "{err}");
    let err = refused(&env, &["experiment", "share", "exp-a", "1.5"]);
    assert!(err.contains("between 0 and 1"), "{err}");
    ok(&env, &["experiment", "share", "exp-a", "0.5"]);
    let status = ok(&env, &["experiment", "status", "--json"]);
    let state = ExperimentState::from_json_slice(status.as_bytes()).unwrap();
    let running = state.experiment.unwrap();
    assert_eq!(
        (running.name.as_str(), running.treatment_share),
        ("exp-a", 0.5)
    );
    assert_eq!(running.treatment_model_version, "v2");
    assert_eq!(running.control_model_version, None);
    assert!(running.started_by.contains('@'), "{}", running.started_by);

    ok(&env, &["experiment", "stop", "exp-a"]);
    let status = ok(&env, &["experiment", "status"]);
    assert!(status.contains("no experiment running"), "{status}");
    let history = ok(&env, &["experiment", "history", "exp-a"]);
    let actions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(actions, ["start", "share", "stop"], "{history}");
    let audit = bucket
        .list("models/experiments/audit/exp-a/")
        .await
        .unwrap();
    assert_eq!(audit.len(), 3, "{audit:?}");
    let stop =
        reco_domain::experiment::AuditEntry::from_json_slice(&bucket.get(&audit[2]).await.unwrap())
            .unwrap();
    assert_eq!(stop.action, ExperimentAction::Stop);
    assert_eq!(stop.before.unwrap().treatment_share, 0.5);

    // Operators starting at once under another prefix: exactly one experiment runs, every
    // other start is refused.
    let race_env: Vec<(&str, String)> = vec![
        (var::RECO_ENV, "local".to_owned()),
        (var::RECO_ARTIFACTS_BUCKET, artifacts.name.clone()),
        (var::RECO_PG_URL, pg.url.clone()),
        (var::RECO_MODEL_PREFIX, "race/".to_owned()),
        (
            var::RECO_LOCAL_DIR,
            stack.root().join(".local").display().to_string(),
        ),
    ];
    let racers: Vec<_> = ["race-a", "race-b", "race-c"]
        .into_iter()
        .map(|name| {
            let env = race_env.clone();
            std::thread::spawn(move || {
                reco(
                    &env,
                    &[
                        "experiment",
                        "start",
                        name,
                        "--treatment",
                        "v2",
                        "--share",
                        "0.2",
                    ],
                )
            })
        })
        .collect();
    let outputs: Vec<Output> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    let errors: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert_eq!(winners, 1, "exactly one start wins: {errors:?}");
    for out in outputs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is running") || err.contains("changed while this command ran"),
            "{err}"
        );
    }
    let audits = bucket.list("race/experiments/audit/").await.unwrap();
    assert_eq!(audits.len(), 1, "{audits:?}");
}
