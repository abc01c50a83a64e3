//! Shared set-up of the transform's pgvector tests.

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
