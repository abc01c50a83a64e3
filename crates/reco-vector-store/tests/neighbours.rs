//! Neighbour lists of given items (`item_neighbours_in_version`) against the local
//! PostgreSQL + pgvector: equal to an exact search, with the embeddings as stored; unknown ids
//! `None`; a gone version fails as such.
#![cfg(feature = "integration")]

#[path = "../../reco-vector-loader/tests/support/mod.rs"]
mod support;

use reco_testkit::LocalStack;
use reco_vector_loader::Loader;
use reco_vector_store::{KnnRequest, StoreError, StoreOptions};
use support::{items_csv, source, store, users_csv, vectors};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
}

#[tokio::test]
async fn neighbour_lists_equal_exact_search_and_carry_the_embeddings() {
    let db = LocalStack::get().pg_database().await;
    // ef_search 1000 over 600 items: exhaustive, so the lists must be exact.
    let store = store(&db, 1000).await;
    let item_vectors = vectors(600, 12, 5);
    let first = Loader::new(&store)
        .load_version(source(
            "m1",
            &items_csv("P", &item_vectors),
            &users_csv(3, 6),
        ))
        .await
        .unwrap()
        .embedding_version;
    let ids: Vec<String> = ["P00007", "UNKNOWN", "P00300", "P00007"]
        .map(String::from)
        .to_vec();
    let lists = store
        .item_neighbours_in_version(&first, &ids, 40)
        .await
        .unwrap();
    assert_eq!(lists.len(), 4);
    assert!(lists[1].is_none(), "unknown id");
    assert_eq!(lists[0], lists[3], "the same item twice");
    let exact = store
        .knn_batch_exact(
            &[KnnRequest::SimilarTo {
                item_ids: vec!["P00300".into()],
                exclude: vec![],
            }],
            40,
        )
        .await
        .unwrap();
    for (at, index) in [(0, 7), (2, 300)] {
        let list = lists[at].as_ref().unwrap();
        assert_eq!(list.embedding.len(), item_vectors[index].len());
        assert!(
            list.embedding
                .iter()
                .zip(&item_vectors[index])
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
        assert_eq!(list.neighbours.len(), 40);
        // Brute force: every other item by cosine to this one.
        let mut all: Vec<(f32, usize)> = item_vectors
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != index)
            .map(|(j, v)| (cosine(v, &item_vectors[index]), j))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (n, (score, j)) in list.neighbours.iter().zip(&all) {
            assert_eq!(n.id, format!("P{j:05}"), "item {index}");
            assert!((n.score - score).abs() < 1e-4, "item {index}");
            assert!((n.score - cosine(&n.embedding, &list.embedding)).abs() < 1e-4);
        }
    }
    // The same list as the batched k-NN's "similar to this item" (which ranks it the same).
    let by_knn: Vec<&str> = exact[0].iter().map(|s| s.id.as_str()).collect();
    let by_list: Vec<&str> = lists[2].as_ref().unwrap().neighbours[..40]
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(by_list, by_knn);

    // Checked before sending; an empty batch sends nothing.
    let err = store
        .item_neighbours_in_version("x; DROP", &ids, 5)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not an embedding version"),
        "{err}"
    );
    assert!(
        store
            .item_neighbours_in_version(&first, &ids, 0)
            .await
            .is_err()
    );
    assert!(
        store
            .item_neighbours_in_version(&first, &[], 5)
            .await
            .unwrap()
            .is_empty()
    );

    // A pool whose connections do not carry the settings (set per transaction instead).
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let bare = reco_vector_store::VectorStore::from_pool(pool, StoreOptions::for_cli());
    let again = bare
        .item_neighbours_in_version(&first, &ids[2..3], 40)
        .await
        .unwrap();
    assert_eq!(again[0], lists[2]);

    // A newer load drops the first version's table: the request fails as such.
    Loader::new(&store)
        .load_version(source(
            "m2",
            &items_csv("B", &vectors(50, 2, 7)),
            &users_csv(2, 8),
        ))
        .await
        .unwrap();
    let gone = store
        .item_neighbours_in_version(&first, &ids, 5)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::NoActiveVersion), "{gone:?}");
}
