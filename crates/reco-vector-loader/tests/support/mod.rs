//! Fixtures of the vector-store integration tests (this crate's and `reco-vector-store`'s,
//! which includes this file): clustered embeddings, their CSV files, stores and loads.
// Each test crate uses a subset of the fixtures.
#![allow(dead_code)]

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_testkit::TempDatabase;
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, LoadReport, Loader};
use reco_vector_store::{StoreOptions, VectorStore};

/// Dimension of the generated embeddings.
pub const DIM: usize = 16;

/// Clustered vectors (like trained embeddings): `n` points around `clusters` random centres.
pub fn vectors(n: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % clusters]
                .iter()
                .map(|c| c + rng.random_range(-0.3..0.3))
                .collect()
        })
        .collect()
}

/// A pgvector text literal.
pub fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// An item embeddings CSV with ids `<prefix>00000`, `<prefix>00001`, ...
pub fn items_csv(prefix: &str, vectors: &[Vec<f32>]) -> String {
    let mut out = String::from("id,embedding\n");
    for (i, v) in vectors.iter().enumerate() {
        writeln!(out, "{prefix}{i:05},\"{}\"", literal(v)).unwrap();
    }
    out
}

/// A user embeddings CSV of `n` users numbered from 100.
pub fn users_csv(n: usize, seed: u64) -> String {
    let mut out = String::from("id,embedding\n");
    for (i, v) in vectors(n, 3, seed).iter().enumerate() {
        writeln!(out, "{},\"{}\"", 100 + i, literal(v)).unwrap();
    }
    out
}

/// A model version's embeddings read from two strings.
pub fn source<'a>(
    model: &str,
    items: &'a str,
    users: &'a str,
) -> EmbeddingSource<&'a [u8], &'a [u8]> {
    EmbeddingSource {
        model_version: model.to_owned(),
        items: EmbeddingFile {
            name: "item_embeddings.csv".to_owned(),
            reader: items.as_bytes(),
        },
        users: EmbeddingFile {
            name: "user_embeddings.csv".to_owned(),
            reader: users.as_bytes(),
        },
    }
}

/// A CLI-sized store on `db` searching with `ef_search`.
pub async fn store(db: &TempDatabase, ef_search: u32) -> VectorStore {
    let mut options = StoreOptions::for_cli();
    options.ef_search = ef_search;
    VectorStore::connect(&db.url, options).await.unwrap()
}

/// Loads `source` into `store`'s database, panicking on failure.
pub async fn load(store: &VectorStore, source: EmbeddingSource<&[u8], &[u8]>) -> LoadReport {
    Loader::new(store).load_version(source).await.unwrap()
}

/// The versioned tables in the database, sorted.
pub async fn versioned_tables(store: &VectorStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname ~ '_emb_e' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}
