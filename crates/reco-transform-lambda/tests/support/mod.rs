//! Shared set-up of the transform's pgvector tests.

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::VectorStore;

/// Loads `items` (embeddings CSV of dimension `dim`) as model `model`'s embeddings, with one
/// user, and returns the new embedding version (now active).
pub async fn load(store: &VectorStore, model: &str, items: &str, dim: usize) -> String {
    let users = format!("id,embedding\n1,\"[{}]\"\n", vec!["1"; dim].join(","));
    Loader::new(store)
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
