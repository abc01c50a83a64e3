//! Shared set-up of the transform's pgvector tests.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_runtime::{Context, LambdaEvent};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::event::ClickEvent;
use reco_domain::firehose::{FirehoseEvent, FirehoseRecord};
use reco_domain::transform::CustomerEmbedder;
use reco_testkit::{LocalStack, TempDatabase};
use reco_transform_lambda::pg_index::PgVectorIndex;
use reco_transform_lambda::ports::ModelStore;
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{StoreOptions, VectorStore};

/// A fresh database on the local PostgreSQL and a store on it connected as the CLI does (what
/// loads embeddings).
#[allow(dead_code)] // not every test file that shares this module loads through it
pub async fn database_with_loader() -> (TempDatabase, VectorStore) {
    let db = LocalStack::get().pg_database().await;
    let loader = VectorStore::connect(&db.url, StoreOptions::for_cli())
        .await
        .unwrap();
    (db, loader)
}

/// Loads `items` (embeddings CSV of dimension `dim`) as model `model`'s embeddings, with one
/// user, and returns the new embedding version (now active).
pub async fn load(store: &VectorStore, model: &str, items: &str, dim: usize) -> String {
    load_with(Loader::new(store), model, items, dim).await
}

/// [`load`] without activating the version (`reco load-embeddings --inactive`).
#[allow(dead_code)] // not every test file that shares this module stages a version
pub async fn load_inactive(store: &VectorStore, model: &str, items: &str, dim: usize) -> String {
    load_with(Loader::new(store).inactive(), model, items, dim).await
}

async fn load_with(loader: Loader<'_>, model: &str, items: &str, dim: usize) -> String {
    let users = format!("id,embedding\n1,\"[{}]\"\n", vec!["1"; dim].join(","));
    loader
        .load_version(EmbeddingSource {
            model_version: model.to_owned(),
            items: EmbeddingFile {
                name: "items".to_owned(),
                reader: items.as_bytes(),
            },
            users: EmbeddingFile {
                name: "users".to_owned(),
                reader: users.as_bytes(),
            },
        })
        .await
        .unwrap()
        .embedding_version
}

/// `items` vectors of dimension `dim` in `clusters` clusters (item `i` in cluster
/// `i % clusters`: a centre in [-1, 1) plus noise in [-noise, noise), as trained embeddings),
/// as an embeddings CSV with ids `id(i)` and as vectors.
#[allow(dead_code)] // not every test file that shares this module generates a catalogue
pub fn clustered_catalogue(
    seed: u64,
    items: usize,
    clusters: usize,
    dim: usize,
    noise: f32,
    id: impl Fn(usize) -> String,
) -> (String, Vec<Vec<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    let mut csv = String::from("id,embedding\n");
    let mut vectors = Vec::new();
    for i in 0..items {
        let v: Vec<f32> = centres[i % clusters]
            .iter()
            .map(|c| c + rng.random_range(-noise..noise))
            .collect();
        let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        writeln!(csv, "{},\"[{}]\"", id(i), text.join(",")).unwrap();
        vectors.push(v);
    }
    (csv, vectors)
}

/// `items` item embeddings of dimension `dim` named `<prefix>0000`, `<prefix>0001`, ...
/// (components uniform in [-1, 1) from a generator seeded with `seed`), as an embeddings CSV.
#[allow(dead_code)] // not every test file that shares this module generates a catalogue
pub fn catalogue_csv(prefix: &str, items: usize, dim: usize, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::from("id,embedding\n");
    for i in 0..items {
        let v: Vec<String> = (0..dim)
            .map(|_| rng.random_range(-1.0f32..1.0).to_string())
            .collect();
        writeln!(out, "{prefix}{i:04},\"[{}]\"", v.join(",")).unwrap();
    }
    out
}

/// A user tower per model version: a fixed direction of dimension `dim` per customer, drawn
/// from a generator seeded with the customer number XOR `salt` (towers with different salts
/// point the same customer elsewhere).
#[allow(dead_code)] // not every test file that shares this module embeds customers
pub struct SeededTower {
    /// The model version it serves.
    pub model_version: &'static str,
    /// Mixed into each customer's seed.
    pub salt: u64,
    /// Embedding dimension.
    pub dim: usize,
}

impl CustomerEmbedder for SeededTower {
    fn model_version(&self) -> &str {
        self.model_version
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(event.customer_number as u64 ^ self.salt);
        (0..self.dim).map(|_| rng.random_range(-1.0..1.0)).collect()
    }
}

/// A transformer with `options` over the database at `url`, connected as the Lambda does, its
/// index built as `main` builds it (in-memory search up to `options.exact_knn_max_items`
/// items, k-NN caches of `options.knn_cache_items`).
#[allow(dead_code)] // not every test file that shares this module runs the handler
pub async fn pg_transformer<M: ModelStore>(
    url: &str,
    models: M,
    options: &TransformOptions,
) -> Transformer<PgVectorIndex, M> {
    let mut store_options = StoreOptions::for_lambda();
    // Exhaustive HNSW over the tests' few hundred items: the pgvector path gives the exact
    // answers.
    store_options.ef_search = 400;
    let store = VectorStore::connect(url, store_options).await.unwrap();
    let index = PgVectorIndex::new(store, options.exact_knn_max_items)
        .with_knn_cache_items(options.knn_cache_items);
    Transformer::new(index, models, options)
}

/// A Firehose invocation of `payloads`, record ids `r0`, `r1`, ...
#[allow(dead_code)] // not every test file that shares this module runs the handler
pub fn invocation(payloads: &[Vec<u8>]) -> LambdaEvent<FirehoseEvent> {
    let records = payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| FirehoseRecord {
            record_id: format!("r{i}"),
            approximate_arrival_timestamp: Some(1_763_780_000_000),
            data: BASE64.encode(payload),
            kinesis_record_metadata: None,
        })
        .collect();
    LambdaEvent::new(
        FirehoseEvent {
            invocation_id: Some("inv".into()),
            delivery_stream_arn: None,
            source_kinesis_stream_arn: None,
            region: Some("us-east-1".into()),
            records,
        },
        Context::default(),
    )
}
