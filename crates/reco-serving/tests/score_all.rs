//! `score-all` against the S3 emulator: a small model version (embeddings Parquet as
//! `reco train` writes them, model.json, LATEST), a training snapshot with a manifest and a
//! catalogue; two shards give every customer exactly one `batch` document equal to the exact
//! k-NN with the customer's ratings excluded, shard 0 the `popular` document; a re-run changes
//! nothing, a newer stream document survives an older run, and missing or inconsistent inputs
//! fail with a message naming the fix.

#![cfg(feature = "integration")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int8Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_aws::Bucket;
use reco_aws::experiments::ExperimentStore;
use reco_domain::artifacts::{
    ITEM_EMBEDDINGS_PARQUET, MODEL_FILE, ModelPrefix, USER_EMBEDDINGS_PARQUET,
};
use reco_domain::experiment::{StartRequest, Variant, assign};
use reco_domain::model::{MODEL_FORMAT_VERSION, ModelArtifact, Tower, TrainingMetadata};
use reco_domain::serving::{
    CatalogueProduct, DocumentProvenance, DocumentSource, LATEST_DOCUMENT_SCHEMA, LatestDocument,
    POPULAR_DOCUMENT_KEY, ProductCatalogue, customer_document_key,
};
use reco_serving::catalogue::write_catalogue;
use reco_serving::documents::{DocumentStore, WriteOutcome};
use reco_serving::score_all::{
    CHUNK_CUSTOMERS, ScoreAllConfig, ScoreAllError, ScoreAllReport, Shard, score_all,
};
use reco_testkit::{LocalStack, TempBucket};
use reco_train::publish::embeddings_parquet;
use reco_vector_store::{ExactIndex, KnnRequest};

const VERSION: &str = "20261201T000000Z-s42";
const SNAPSHOT: &str = "2026-11-30";
const DIM: usize = 16;
const K: usize = 5;
const CUSTOMERS: i64 = 61;
const PRODUCTS: usize = 40;
const T_RUN: &str = "2026-12-01T02:00:00.000Z";
const T_STREAM: &str = "2026-12-01T09:30:00.000Z";

fn product(p: usize) -> String {
    format!("S{}_{:04}", 10 + p % 3, p)
}

/// Unit vectors with four entries of +-1/2: every dot product is exact in f32, so the
/// expected answers (ties included) do not depend on summation order.
fn sparse_unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    let mut slots: Vec<usize> = (0..dim).collect();
    slots.shuffle(rng);
    for &d in &slots[..4] {
        v[d] = if rng.random_bool(0.5) { 0.5 } else { -0.5 };
    }
    v
}

fn artifact(dim: usize, lake: &str) -> ModelArtifact {
    let factors = dim - 1;
    let tower = || Tower::new(vec![], vec![], vec![0.0; factors], vec![], vec![]);
    ModelArtifact {
        format_version: MODEL_FORMAT_VERSION,
        model_version: VERSION.into(),
        dim,
        factors,
        user_tower: tower(),
        item_tower: tower(),
        item_max_norm: 1.0,
        training: TrainingMetadata {
            method: "test".into(),
            seed: 42,
            iterations: 1,
            regularization: 1.0,
            alpha: 1.0,
            feature_regularization: 1.0,
            source: format!("s3://{lake}/training_ratings/snapshot={SNAPSHOT}/"),
            rows: 0,
            users: 0,
            items: 0,
            trained_at: "2026-12-01T00:00:00Z".into(),
            final_loss: 0.0,
        },
    }
}

/// The test's world: what was written, and the expected answers.
struct World {
    artifacts: TempBucket,
    lake: TempBucket,
    recs: TempBucket,
    stack: &'static LocalStack,
    items: Vec<(String, Vec<f32>)>,
    users: BTreeMap<i64, Vec<f32>>,
    rated: HashMap<i64, Vec<String>>,
    rating_counts: HashMap<String, u64>,
}

impl World {
    fn bucket(&self, bucket: &TempBucket) -> Bucket {
        self.stack.bucket(&bucket.name)
    }

    fn documents(&self) -> DocumentStore {
        DocumentStore::new(self.bucket(&self.recs))
    }

    async fn run(&self, shard: Shard, generated_at: &str) -> Result<ScoreAllReport, ScoreAllError> {
        let config = ScoreAllConfig {
            model_version: None,
            model_prefix: ModelPrefix::default(),
            snapshot: None,
            shard,
            k: K,
            generated_at: generated_at.into(),
            chunk_customers: CHUNK_CUSTOMERS,
        };
        score_all(
            &config,
            &self.bucket(&self.artifacts),
            &self.bucket(&self.lake),
            &self.documents(),
        )
        .await
    }
}

async fn put(bucket: &Bucket, key: &str, body: impl Into<bytes::Bytes>) {
    bucket
        .put(key, body.into(), "application/octet-stream")
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

fn snapshot_part(rows: &[(i64, String, i8)]) -> Vec<u8> {
    // The training contract's column types for the two read (Int32 customer number), plus
    // columns score-all must not need.
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_number", DataType::Int32, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("product_code", DataType::Utf8, false),
        Field::new("rating", DataType::Int8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.0 as i32),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "Nantes"))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
        Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

async fn world() -> World {
    let stack = LocalStack::get();
    let (artifacts, lake, recs) = (
        stack.s3_bucket().await,
        stack.s3_bucket().await,
        stack.s3_bucket().await,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut items: Vec<(String, Vec<f32>)> = (0..PRODUCTS)
        .map(|p| (product(p), sparse_unit(&mut rng, DIM)))
        .collect();
    // A zero embedding has no direction: never recommended.
    items.push(("S99_ZERO".into(), vec![0.0; DIM]));
    // Customers in an order unrelated to their numbers (the shards sort them).
    let mut numbers: Vec<i64> = (0..CUSTOMERS).map(|c| 100 + c * 3).collect();
    numbers.shuffle(&mut rng);
    let users: BTreeMap<i64, Vec<f32>> = numbers
        .iter()
        .map(|&c| (c, sparse_unit(&mut rng, DIM)))
        .collect();

    let w = World {
        artifacts,
        lake,
        recs,
        stack,
        items,
        users,
        rated: HashMap::new(),
        rating_counts: HashMap::new(),
    };
    let art = w.bucket(&w.artifacts);
    let prefix = ModelPrefix::default();
    let item_ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        w.items.iter().map(|i| i.0.as_str()),
    ));
    let item_vecs: Vec<Vec<f32>> = w.items.iter().map(|i| i.1.clone()).collect();
    put(
        &art,
        &prefix.key(VERSION, ITEM_EMBEDDINGS_PARQUET),
        embeddings_parquet(item_ids, &item_vecs, DIM),
    )
    .await;
    let user_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(numbers.iter().copied()));
    let user_vecs: Vec<Vec<f32>> = numbers.iter().map(|c| w.users[c].clone()).collect();
    put(
        &art,
        &prefix.key(VERSION, USER_EMBEDDINGS_PARQUET),
        embeddings_parquet(user_ids, &user_vecs, DIM),
    )
    .await;
    put(
        &art,
        &prefix.key(VERSION, MODEL_FILE),
        artifact(DIM, &w.lake.name).to_json_vec().unwrap(),
    )
    .await;
    put(&art, &prefix.latest_key(), VERSION.as_bytes().to_vec()).await;
    w
}

/// Ratings in two parts: the model's customers, a customer without an embedding, a product
/// without one; returns what each customer rated and the counts per product.
async fn write_snapshot(w: &mut World) {
    let lake = w.bucket(&w.lake);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut rows: Vec<(i64, String, i8)> = Vec::new();
    for &c in w.users.keys() {
        let mut ps: Vec<usize> = (0..PRODUCTS).collect();
        ps.shuffle(&mut rng);
        for &p in &ps[..rng.random_range(1..8)] {
            rows.push((c, product(p), rng.random_range(1..=5)));
        }
    }
    // A product skewed to the top of popularity, one without an embedding, and a customer
    // the model does not know.
    for &c in w.users.keys().take(30) {
        if !rows.iter().any(|r| r.0 == c && r.1 == product(7)) {
            rows.push((c, product(7), 5));
        }
    }
    rows.push((100, "S99_NOEMB".into(), 4));
    rows.push((9_999, product(3), 5));
    for r in &rows {
        w.rated.entry(r.0).or_default().push(r.1.clone());
        *w.rating_counts.entry(r.1.clone()).or_default() += 1;
    }
    let half = rows.len() / 2;
    let prefix = format!("training_ratings/snapshot={SNAPSHOT}/");
    let mut files = Vec::new();
    for (i, part) in [&rows[..half], &rows[half..]].into_iter().enumerate() {
        let key = format!("{prefix}run=r1/part-{i:05}.parquet");
        let body = snapshot_part(part);
        files.push(serde_json::json!({"key": key, "rows": part.len(), "bytes": body.len()}));
        put(&lake, &key, body).await;
    }
    // A stray run the manifest does not name: never read.
    put(
        &lake,
        &format!("{prefix}run=old/part-00000.parquet"),
        snapshot_part(&[(100, product(0), 5)]),
    )
    .await;
    let manifest = serde_json::json!({
        "schema_version": 1, "snapshot": SNAPSHOT, "run_id": "r1",
        "location": format!("s3://{}/{prefix}run=r1/", w.lake.name),
        "rows": rows.len(), "files": files,
    });
    put(
        &lake,
        &format!("{prefix}_manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
}

async fn write_catalogue_of(w: &World) {
    // Every product but one: that one keeps its place, without display fields.
    let catalogue = ProductCatalogue::new((1..PRODUCTS).map(|p| CatalogueProduct {
        product_code: product(p),
        name: format!("Model {p}"),
        product_line: "Classic Cars".into(),
        msrp_cents: 1_000 + p as i64,
    }));
    write_catalogue(&w.bucket(&w.lake), &catalogue)
        .await
        .unwrap();
}

fn expected(w: &World) -> BTreeMap<i64, Vec<(String, f32)>> {
    let index = ExactIndex::new("e20261201000000000000", w.items.clone()).unwrap();
    let requests: Vec<KnnRequest> = w
        .users
        .iter()
        .map(|(c, v)| KnnRequest::ByVector {
            vector: v.clone(),
            exclude: w.rated.get(c).cloned().unwrap_or_default(),
        })
        .collect();
    let answers = index.knn_batch(&requests, K).unwrap();
    w.users
        .keys()
        .zip(answers)
        .map(|(&c, a)| (c, a.into_iter().map(|i| (i.id, i.score)).collect()))
        .collect()
}

async fn stored_customers(w: &World) -> BTreeSet<i64> {
    let keys = w.bucket(&w.recs).list("latest/customers/").await.unwrap();
    let mut out = BTreeSet::new();
    for key in keys {
        let name = key.rsplit('/').next().unwrap().to_owned();
        assert!(
            out.insert(name.trim_end_matches(".json").parse::<i64>().unwrap()),
            "{name} twice"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_give_every_customer_the_exact_knn_without_rated_products() {
    let mut w = world().await;
    write_snapshot(&mut w).await;
    write_catalogue_of(&w).await;
    let want = expected(&w);

    let s0 = w.run(Shard::new(0, 2).unwrap(), T_RUN).await.unwrap();
    let s1 = w.run(Shard::new(1, 2).unwrap(), T_RUN).await.unwrap();
    for r in [&s0, &s1] {
        assert_eq!(r.model_version, VERSION);
        assert_eq!(r.snapshot, SNAPSHOT);
        assert_eq!(r.customers_total, CUSTOMERS as u64);
        assert_eq!(r.items, PRODUCTS, "the zero embedding is left out");
        assert_eq!(r.zero_items, 1);
        assert_eq!((r.written, r.kept, r.empty), (r.customers, 0, 0));
    }
    assert_eq!(s0.customers + s1.customers, CUSTOMERS as u64);
    assert_eq!(s0.customers, CUSTOMERS as u64 / 2);
    assert_eq!(s0.popular, Some(WriteOutcome::Written));
    assert_eq!(s1.popular, None, "only shard 0 writes the popular document");

    // Exactly one document per customer with an embedding, and nobody else.
    let stored = stored_customers(&w).await;
    assert_eq!(stored, w.users.keys().copied().collect::<BTreeSet<_>>());
    let documents = w.documents();
    for (&c, want) in &want {
        let doc = documents
            .get(&customer_document_key(c))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc.source, DocumentSource::Batch);
        assert_eq!(doc.customer_number, Some(c));
        assert!(doc.similar_to_session.is_empty());
        let got: Vec<(String, f32)> = doc
            .recommended
            .iter()
            .map(|i| (i.product_code.clone(), i.score))
            .collect();
        assert_eq!(&got, want, "customer {c}");
        let rated = &w.rated[&c];
        assert!(
            got.iter()
                .all(|(p, _)| !rated.contains(p) && p != "S99_ZERO"),
            "customer {c} got a rated product: {got:?} (rated {rated:?})"
        );
        for item in &doc.recommended {
            if item.product_code == product(0) {
                assert_eq!(item.name, None, "not in the catalogue");
            } else {
                assert!(item.name.as_deref().unwrap().starts_with("Model "));
                assert!(item.price.is_some());
            }
        }
        assert_eq!(doc.provenance.model_version, VERSION);
        assert_eq!(doc.provenance.embedding_version, VERSION);
        assert_eq!(doc.provenance.generated_at, T_RUN);
        assert_eq!(doc.provenance.recommendation_id.len(), 32);
    }
    assert!(
        documents
            .get(&customer_document_key(9_999))
            .await
            .unwrap()
            .is_none(),
        "a customer without an embedding gets none (the popular fallback serves them)"
    );

    // The popular document: the K most rated products of the snapshot, share of the top.
    let mut counts: Vec<(String, u64)> = w.rating_counts.clone().into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top = counts[0].1 as f32;
    let popular = documents.get(POPULAR_DOCUMENT_KEY).await.unwrap().unwrap();
    assert_eq!(popular.source, DocumentSource::Popular);
    assert_eq!(popular.customer_number, None);
    let got: Vec<(String, f32)> = popular
        .recommended
        .iter()
        .map(|i| (i.product_code.clone(), i.score))
        .collect();
    let want_popular: Vec<(String, f32)> = counts
        .iter()
        .take(K)
        .map(|(p, n)| (p.clone(), *n as f32 / top))
        .collect();
    assert_eq!(got, want_popular);
    assert_eq!(got[0], (product(7), 1.0));

    // The same run again (a retried shard): nothing is rewritten.
    let again0 = w.run(Shard::new(0, 2).unwrap(), T_RUN).await.unwrap();
    let again1 = w.run(Shard::new(1, 2).unwrap(), T_RUN).await.unwrap();
    assert_eq!((again0.written, again0.kept), (0, s0.customers));
    assert_eq!((again1.written, again1.kept), (0, s1.customers));
    assert_eq!(again0.popular, Some(WriteOutcome::Kept));

    // A stream document newer than the run survives a run that started earlier.
    let &clicker = w.users.keys().next().unwrap();
    let stream = LatestDocument {
        schema_version: LATEST_DOCUMENT_SCHEMA,
        customer_number: Some(clicker),
        source: DocumentSource::Stream,
        recommended: vec![ProductCatalogue::default().display_one(&product(2), 0.7)],
        similar_to_session: vec![],
        provenance: DocumentProvenance {
            recommendation_id: "stream-1".into(),
            model_version: VERSION.into(),
            embedding_version: VERSION.into(),
            generated_at: T_STREAM.into(),
            experiment: None,
            variant: None,
        },
    };
    assert_eq!(
        documents.put_if_newer(&stream).await.unwrap(),
        WriteOutcome::Written
    );
    let later_but_older = "2026-12-01T05:00:00.000Z";
    let r = w.run(Shard::ALL, later_but_older).await.unwrap();
    assert_eq!((r.written, r.kept), (CUSTOMERS as u64 - 1, 1));
    assert_eq!(
        documents.get(&stream.key()).await.unwrap(),
        Some(stream),
        "the newer stream document was replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_inconsistent_inputs_fail_with_a_message_naming_the_fix() {
    let mut w = world().await;
    // No catalogue yet.
    write_snapshot(&mut w).await;
    let err = w.run(Shard::ALL, T_RUN).await.unwrap_err().to_string();
    assert!(
        err.contains("reco etl") && err.contains("catalogue"),
        "{err}"
    );
    write_catalogue_of(&w).await;

    let art = w.bucket(&w.artifacts);
    // No LATEST.
    art.delete(&["models/LATEST".to_owned()]).await.unwrap();
    let err = w.run(Shard::ALL, T_RUN).await.unwrap_err().to_string();
    assert!(
        err.contains("reco train") && err.contains("models/LATEST"),
        "{err}"
    );

    // A version without user embeddings.
    let broken = "20261202T000000Z-s1";
    put(
        &art,
        &format!("models/{broken}/model.json"),
        artifact(DIM, &w.lake.name).to_json_vec().unwrap(),
    )
    .await;
    let items: ArrayRef = Arc::new(StringArray::from_iter_values(["A", "B"]));
    put(
        &art,
        &format!("models/{broken}/item_embeddings.parquet"),
        embeddings_parquet(items, &[vec![1.0; DIM], vec![0.5; DIM]], DIM),
    )
    .await;
    put(&art, "models/LATEST", broken.as_bytes().to_vec()).await;
    let err = w.run(Shard::ALL, T_RUN).await.unwrap_err();
    assert!(
        matches!(err, ScoreAllError::MissingEmbeddings { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("user_embeddings.parquet"), "{err}");

    // User embeddings of another dimension than the items'.
    let users: ArrayRef = Arc::new(Int64Array::from_iter_values([1, 2]));
    put(
        &art,
        &format!("models/{broken}/user_embeddings.parquet"),
        embeddings_parquet(users, &[vec![1.0; 4], vec![0.5; 4]], 4),
    )
    .await;
    let err = w.run(Shard::ALL, T_RUN).await.unwrap_err();
    assert!(
        matches!(
            err,
            ScoreAllError::DimensionMismatch {
                users: 4,
                items: DIM,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("dimension mismatch"), "{err}");
    // A one-line message each.
    assert!(!err.to_string().contains('\n'));
}

/// While an A/B experiment runs, every customer's batch document comes from the model version
/// of its variant and says so; the treatment's answers are its own embeddings' exact k-NN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_experiment_each_customer_is_scored_by_its_variants_version() {
    const TREATMENT: &str = "20261202T000000Z-s7";
    let mut w = world().await;
    write_snapshot(&mut w).await;
    write_catalogue_of(&w).await;
    let art = w.bucket(&w.artifacts);
    let prefix = ModelPrefix::default();
    // The treatment: the same items, every customer's embedding negated.
    let item_ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        w.items.iter().map(|i| i.0.as_str()),
    ));
    let item_vecs: Vec<Vec<f32>> = w.items.iter().map(|i| i.1.clone()).collect();
    put(
        &art,
        &prefix.key(TREATMENT, ITEM_EMBEDDINGS_PARQUET),
        embeddings_parquet(item_ids, &item_vecs, DIM),
    )
    .await;
    let numbers: Vec<i64> = w.users.keys().copied().collect();
    let negated: BTreeMap<i64, Vec<f32>> = w
        .users
        .iter()
        .map(|(c, v)| (*c, v.iter().map(|x| -x).collect()))
        .collect();
    let user_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(numbers.iter().copied()));
    let user_vecs: Vec<Vec<f32>> = numbers.iter().map(|c| negated[c].clone()).collect();
    put(
        &art,
        &prefix.key(TREATMENT, USER_EMBEDDINGS_PARQUET),
        embeddings_parquet(user_ids, &user_vecs, DIM),
    )
    .await;
    let mut model = artifact(DIM, &w.lake.name);
    model.model_version = TREATMENT.into();
    put(
        &art,
        &prefix.key(TREATMENT, MODEL_FILE),
        model.to_json_vec().unwrap(),
    )
    .await;
    ExperimentStore::new(art.clone(), prefix.clone())
        .apply(|s| {
            s.start(
                StartRequest {
                    name: "towers-v2".into(),
                    treatment_model_version: TREATMENT.into(),
                    control_model_version: None,
                    treatment_share: 0.5,
                },
                "2026-12-01T01:00:00.000Z",
                "test@host",
            )
        })
        .await
        .unwrap();

    let report = w.run(Shard::ALL, T_RUN).await.unwrap();
    let control_answers = expected(&w);
    let treated_world = World {
        users: negated,
        ..w
    };
    let treatment_answers = expected(&treated_world);
    let w = treated_world;
    let documents = w.documents();
    let mut per_variant: HashMap<Variant, usize> = HashMap::new();
    for c in stored_customers(&w).await {
        let doc = documents
            .get(&reco_domain::serving::customer_document_key(c))
            .await
            .unwrap()
            .unwrap();
        let variant = assign("towers-v2", c, 0.5);
        *per_variant.entry(variant).or_default() += 1;
        assert_eq!(doc.provenance.experiment.as_deref(), Some("towers-v2"));
        assert_eq!(doc.provenance.variant, Some(variant), "customer {c}");
        let (version, answers) = match variant {
            Variant::Control => (VERSION, &control_answers),
            Variant::Treatment => (TREATMENT, &treatment_answers),
        };
        assert_eq!(doc.provenance.model_version, version, "customer {c}");
        let got: Vec<&str> = doc
            .recommended
            .iter()
            .map(|i| i.product_code.as_str())
            .collect();
        let want: Vec<&str> = answers[&c].iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(got, want, "customer {c} ({variant})");
    }
    assert_eq!(report.written, report.scored);
    assert_eq!(
        per_variant.values().sum::<usize>() as u64,
        report.scored,
        "each customer written once"
    );
    assert!(
        per_variant.get(&Variant::Control).copied().unwrap_or(0) > 10
            && per_variant.get(&Variant::Treatment).copied().unwrap_or(0) > 10,
        "{per_variant:?}"
    );
}
