//! Champion / challenger scenarios of the quality gate, run against any bucket (in memory for
//! the unit tier, the emulator's S3 for the integration tier): the live version is measured on
//! the new snapshot's held-out split, next to the new one.

use reco_aws::Bucket;
use reco_train::job;
use reco_train::snapshot::SnapshotRow;

use super::config;

/// Other data, as after `make demo` then a real load: other customers and products, the
/// opposite taste (France now prefers ships), and every customer rates every product (enough
/// positives per customer for the search's validation split).
fn other_data(rows: &[SnapshotRow]) -> Vec<SnapshotRow> {
    let mut customers: Vec<&SnapshotRow> = Vec::new();
    let mut products: Vec<&SnapshotRow> = Vec::new();
    for r in rows {
        if !customers
            .iter()
            .any(|c| c.customer_number == r.customer_number)
        {
            customers.push(r);
        }
        if !products.iter().any(|p| p.product_code == r.product_code) {
            products.push(r);
        }
    }
    let mut out = Vec::new();
    for c in &customers {
        for (k, p) in products.iter().enumerate() {
            let likes = (c.country.as_deref() == Some("France"))
                == (p.product_line.as_deref() == Some("Ships"));
            let mut r = (*p).clone();
            r.customer_number = c.customer_number + 5_000;
            r.city = c.city.clone();
            r.country = c.country.clone();
            r.credit_limit = c.credit_limit;
            r.product_code = format!("N{}", p.product_code);
            r.rating = if likes {
                4.0 + (k % 2) as f64
            } else {
                1.0 + (k % 2) as f64
            };
            out.push(r);
        }
    }
    out
}

/// After a version trained on other data is live, a model of the new data is accepted against
/// it measured on the new held-out split; a worse model of the same data is refused; an
/// unreadable live version is said, and most-popular on the same split is the reference.
pub async fn the_champion_and_the_challenger_are_measured_on_the_same_split(
    store: &Bucket,
    rows: &[SnapshotRow],
) {
    let demo = other_data(rows);
    let first = job::run(demo, "demo".into(), store, &config(7), 1_795_400_100)
        .await
        .unwrap();
    assert!(first.metrics.gate.passed, "{}", first.metrics.gate.reason);
    assert_eq!(first.metrics.gate.reference, "most-popular");
    assert!(
        first.metrics.gate.reason.contains("no live version"),
        "{}",
        first.metrics.gate.reason
    );
    assert!(first.metrics.champion.is_none());
    let tuning = first
        .metrics
        .tuning
        .as_ref()
        .expect("tuning is on by default");
    assert!(
        tuning.skipped_reason.is_none(),
        "{:?}",
        tuning.skipped_reason
    );
    assert!(tuning.trials.len() > 1);
    assert_eq!(
        first.metrics.training.regularization, tuning.winner.regularization,
        "the full model is trained with the winner"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &store
            .get(&format!("models/{}/metrics.json", first.model_version))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(json["tuning"]["trials"][0]["validation_ndcg_at_10"].is_f64());
    assert!(json["tuning"]["winner"]["factors"].is_u64());
    assert!(json["tuning"]["most_popular"]["ndcg_at_10"].is_f64());

    // New data: the live version trained on the demo data is measured on its held-out split.
    let real = job::run(
        rows.to_vec(),
        "real".into(),
        store,
        &config(7),
        1_795_400_200,
    )
    .await
    .unwrap();
    let m = &real.metrics;
    assert!(m.gate.passed, "{}", m.gate.reason);
    assert_eq!(m.gate.reference, "champion");
    assert_eq!(
        m.gate.champion_version.as_deref(),
        Some(first.model_version.as_str())
    );
    let champion = m.champion.as_ref().expect("the live version is measured");
    assert_eq!(champion.version, first.model_version);
    let refit = champion.refit.as_ref().expect("its settings are re-fitted");
    let as_is = champion
        .as_is
        .as_ref()
        .expect("its artifact is scored as is");
    // Both on the same held-out customers as the challenger.
    assert_eq!(refit.users, m.evaluation.model.users);
    assert_eq!(as_is.users, m.evaluation.model.users);
    assert_eq!(m.gate.reference_ndcg_at_10, Some(refit.ndcg_at_10));
    assert!(
        m.evaluation.model.ndcg_at_10 >= refit.ndcg_at_10 * 0.9,
        "{} vs {}",
        m.evaluation.model.ndcg_at_10,
        refit.ndcg_at_10
    );
    // This snapshot's customers have about 6 positives: 4 after the held-out split, too few
    // for a validation split, so the search says so and the given settings are used.
    assert_eq!(
        m.tuning.as_ref().and_then(|t| t.skipped_reason.as_deref()),
        Some("the validation split holds no customer with enough positives")
    );
    assert_eq!(
        store.get("models/LATEST").await.unwrap(),
        real.model_version.as_bytes()
    );
    let json: serde_json::Value = serde_json::from_slice(
        &store
            .get(&format!("models/{}/metrics.json", real.model_version))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["champion"]["version"], first.model_version.as_str());
    assert_eq!(json["gate"]["reference"], "champion");
    assert!(json["champion"]["refit"]["ndcg_at_10"].is_f64());

    // A worse model of the same data (tuning off, a setting that learns almost nothing) is
    // refused against the live version's settings re-fitted on the same split.
    let mut worse = config(7);
    worse.tuning.enabled = false;
    worse.train.als.factors = 1;
    worse.train.als.iterations = 1;
    worse.train.als.regularization = 10_000.0;
    let refused = job::run(rows.to_vec(), "real".into(), store, &worse, 1_795_400_300)
        .await
        .unwrap();
    let gate = &refused.metrics.gate;
    assert!(!gate.passed, "{}", gate.reason);
    assert!(
        gate.reason
            .contains(&format!("below the live version {}'s", real.model_version))
            && gate.reason.contains("on the same held-out split"),
        "{}",
        gate.reason
    );
    assert_eq!(
        store.get("models/LATEST").await.unwrap(),
        real.model_version.as_bytes()
    );

    // The live version's model.json unreadable: said, and most-popular is the reference.
    store
        .put(
            &format!("models/{}/model.json", real.model_version),
            bytes::Bytes::from_static(b"not json"),
            "application/json",
        )
        .await
        .unwrap();
    let next = job::run(
        rows.to_vec(),
        "real".into(),
        store,
        &config(7),
        1_795_400_400,
    )
    .await
    .unwrap();
    let gate = &next.metrics.gate;
    assert_eq!(gate.reference, "most-popular");
    assert!(
        gate.reason.contains(&format!(
            "the live version {} cannot be scored",
            real.model_version
        )) && gate.reason.contains("unreadable"),
        "{}",
        gate.reason
    );
    assert!(gate.passed, "{}", gate.reason);
    let champion = next.metrics.champion.as_ref().unwrap();
    assert!(champion.refit.is_none() && champion.unscorable_reason.is_some());
}
