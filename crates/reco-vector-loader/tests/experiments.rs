//! Loads for A/B experiments against the local PostgreSQL + pgvector and the S3 emulator:
//! `--inactive` loads keep the active version and its views, and the cleanup after a load
//! keeps the versions the running experiment names (read from `current.json`), staged
//! versions, and everything when the experiment state cannot be read.
#![cfg(feature = "integration")]

mod support;

use bytes::Bytes;
use reco_aws::experiments::ExperimentStore;
use reco_domain::artifacts::ModelPrefix;
use reco_domain::experiment::StartRequest;
use reco_testkit::LocalStack;
use reco_vector_loader::{Loader, ModelArtifacts, Retention};
use support::{DIM, items_csv, store, users_csv, vectors, versioned_tables};

fn model_json(version: &str) -> String {
    format!(
        r#"{{"format_version":1,"model_version":"{version}","dim":{DIM},"factors":{}}}"#,
        DIM - 1
    )
}

#[tokio::test]
async fn inactive_loads_and_experiment_versions_survive_later_loads() {
    let stack = LocalStack::get();
    let db = stack.pg_database().await;
    let temp_bucket = stack.s3_bucket().await;
    let bucket = stack.bucket(&temp_bucket.name);
    let store = store(&db, 100).await;
    for (version, seed) in [("v1", 1), ("v2", 2), ("v3", 3), ("v4", 4)] {
        for (file, body) in [
            ("model.json", model_json(version)),
            ("item_embeddings.csv", items_csv("P", &vectors(60, 4, seed))),
            ("user_embeddings.csv", users_csv(5, seed)),
        ] {
            bucket
                .put(
                    &format!("models/{version}/{file}"),
                    Bytes::from(body),
                    "text/csv",
                )
                .await
                .unwrap();
        }
    }
    let prefix = ModelPrefix::new("models");
    let artifacts = ModelArtifacts::new(bucket.clone(), prefix.clone());
    let loader = Loader::new(&store);

    let v1 = loader.load_from(&artifacts, Some("v1")).await.unwrap();
    // v2 staged: loaded, recorded inactive, the views still on v1.
    let v2 = loader
        .clone()
        .inactive()
        .load_from(&artifacts, Some("v2"))
        .await
        .unwrap();
    let active = store.active_version().await.unwrap().unwrap();
    assert_eq!(active.model_version, "v1");
    let staged = store.loaded_version_of("v2").await.unwrap().unwrap();
    assert_eq!(staged.embedding_version, v2.embedding_version);
    assert_eq!(
        store
            .loaded_version_of("v1")
            .await
            .unwrap()
            .unwrap()
            .embedding_version,
        v1.embedding_version
    );
    assert_eq!(store.loaded_version_of("v9").await.unwrap(), None);
    assert!(v2.dropped_tables.is_empty(), "{:?}", v2.dropped_tables);
    assert_eq!(versioned_tables(&store).await.len(), 4);

    // An experiment names v2 as treatment and v1 as control; v3 becomes active.
    ExperimentStore::new(bucket.clone(), prefix.clone())
        .apply(|s| {
            s.start(
                StartRequest {
                    name: "towers".into(),
                    treatment_model_version: "v2".into(),
                    control_model_version: Some("v1".into()),
                    treatment_share: 0.5,
                },
                "2026-12-03T10:00:00.000Z",
                "test@host",
            )
        })
        .await
        .unwrap();
    let v3 = loader.load_from(&artifacts, Some("v3")).await.unwrap();
    assert!(v3.dropped_tables.is_empty(), "{:?}", v3.dropped_tables);
    assert_eq!(
        store.active_version().await.unwrap().unwrap().model_version,
        "v3"
    );
    for version in ["v1", "v2", "v3"] {
        assert!(
            store.loaded_version_of(version).await.unwrap().is_some(),
            "{version}"
        );
    }

    // The state unreadable: nothing old is dropped.
    bucket
        .put(
            "models/experiments/current.json",
            Bytes::from_static(b"{not json"),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(
        artifacts.experiment_retention().await,
        Retention::DropNothing
    );
    let v4 = loader.load_from(&artifacts, Some("v4")).await.unwrap();
    assert!(v4.dropped_tables.is_empty(), "{:?}", v4.dropped_tables);
    assert_eq!(versioned_tables(&store).await.len(), 8);

    // The experiment stopped: the next load drops every version but the active one.
    bucket
        .put(
            "models/experiments/current.json",
            Bytes::from_static(br#"{"schema_version":1,"experiment":null}"#),
            "application/json",
        )
        .await
        .unwrap();
    let again = loader.load_from(&artifacts, Some("v4")).await.unwrap();
    assert_eq!(again.dropped_tables.len(), 8, "{:?}", again.dropped_tables);
    assert_eq!(
        versioned_tables(&store).await,
        [
            format!("item_emb_{}", again.embedding_version),
            format!("user_emb_{}", again.embedding_version)
        ]
    );
    assert_eq!(store.loaded_version_of("v2").await.unwrap(), None);
}
