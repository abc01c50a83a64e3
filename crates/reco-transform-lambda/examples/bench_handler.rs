//! Benchmark of the transform handler against the vector database (`make bench BENCH=streaming`).
//!
//! usage: bench_handler <postgres-url-of-an-empty-database> <out-dir>
//!        bench_handler --crossover <postgres-url-of-another-empty-database>
//! (the crossover loads catalogues of its own, so it needs a database the Python handler
//! does not read)
//!
//! Trains a model with reco-train on a seeded synthetic snapshot (2,000 customers x 400
//! products), loads its embeddings, writes a 1 MB and a 3 MB Firehose batch of click events
//! to `<out-dir>` (the Python handler reads the same files) and times the handler on each:
//! one warm-up, then the median of 5 runs. Also times the model's parse (`model.json`), the
//! part of cold start that is not the runtime or the connection, and leaves `model.json` in
//! `<out-dir>` for the cold-start run.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::firehose::{FirehoseEvent, FirehoseRecord, FirehoseResponse, FirehoseResult};
use reco_domain::model::ModelArtifact;
use reco_train::publish::{embeddings_csv, item_embeddings, user_embeddings};
use reco_train::snapshot::{SnapshotRow, training_data};
use reco_train::towers::{TrainConfig, fit};
use reco_transform_lambda::pg_index::{DEFAULT_EXACT_KNN_MAX_ITEMS, PgVectorIndex};
use reco_transform_lambda::ports::{ModelLoadError, ModelStore};
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{KnnRequest, StoreOptions, VectorStore};

const CUSTOMERS: i64 = 2_000;
const PRODUCTS: usize = 400;
const RATINGS_PER_CUSTOMER: usize = 15;
const RUNS: usize = 5;
const COUNTRIES: [&str; 6] = ["France", "USA", "Germany", "Japan", "Spain", "Australia"];

struct Fixed(ModelArtifact);

impl ModelStore for Fixed {
    type Model = ModelArtifact;
    async fn load(&self, _version: &str) -> Result<ModelArtifact, ModelLoadError> {
        Ok(self.0.clone())
    }
    fn dim(model: &ModelArtifact) -> usize {
        model.dim()
    }
}

fn product(p: usize) -> String {
    format!("S{}_{:04}", 10 + p % 8, p)
}

fn snapshot(rng: &mut ChaCha8Rng) -> Vec<SnapshotRow> {
    let mut rows = Vec::new();
    for c in 0..CUSTOMERS {
        let country = COUNTRIES[(c as usize) % COUNTRIES.len()];
        // Each country prefers one slice of the catalogue: learnable structure.
        let home = (c as usize % COUNTRIES.len()) * PRODUCTS / COUNTRIES.len();
        for _ in 0..RATINGS_PER_CUSTOMER {
            let p = if rng.random_bool(0.8) {
                (home + rng.random_range(0..PRODUCTS / COUNTRIES.len())) % PRODUCTS
            } else {
                rng.random_range(0..PRODUCTS)
            };
            rows.push(SnapshotRow {
                customer_number: 100 + c,
                city: Some(format!("{country}-city-{}", c % 7)),
                country: Some(country.to_owned()),
                credit_limit: Some(10_000.0 + (c % 50) as f64 * 2_000.0),
                product_code: product(p),
                product_line: Some(format!("line-{}", p % 8)),
                product_scale: Some("1:18".to_owned()),
                quantity_in_stock: Some(1_000.0),
                buy_price: Some(20.0 + (p % 70) as f64),
                msrp: Some(40.0 + (p % 90) as f64),
                rating: f64::from(rng.random_range(3..=5)),
            });
        }
    }
    rows
}

fn batch(rng: &mut ChaCha8Rng, bytes: usize) -> FirehoseEvent {
    let mut records = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < bytes {
        let c = rng.random_range(0..CUSTOMERS);
        let unknown = rng.random_bool(0.1);
        let items: Vec<serde_json::Value> = (0..rng.random_range(0..=6))
            .map(|_| {
                serde_json::json!({"product_code": product(rng.random_range(0..PRODUCTS)),
                    "quantity": rng.random_range(1..=5), "in_shopping_cart": rng.random_bool(0.3)})
            })
            .collect();
        let event = serde_json::json!({
            "session_id": format!("bench-{i}"),
            "customer_number": if unknown { 9_000_000 + c } else { 100 + c },
            "city": format!("{}-city-{}", COUNTRIES[c as usize % 6], c % 7),
            "country": COUNTRIES[c as usize % 6],
            "credit_limit": 10_000.0 + (c % 50) as f64 * 2_000.0,
            "browse_history": items,
            "event_id": format!("evt-{i}"),
            "event_time": "2026-11-22T03:00:00Z",
        });
        let data = serde_json::to_vec(&event).unwrap();
        total += data.len();
        records.push(FirehoseRecord {
            record_id: format!("r{i}"),
            approximate_arrival_timestamp: Some(1_763_780_000_000),
            data: BASE64.encode(data),
            kinesis_record_metadata: None,
        });
        i += 1;
    }
    FirehoseEvent {
        invocation_id: Some("bench".into()),
        delivery_stream_arn: None,
        source_kinesis_stream_arn: None,
        region: None,
        records,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, pg_url] = args.as_slice()
        && flag == "--crossover"
    {
        return crossover(pg_url, &mut ChaCha8Rng::seed_from_u64(11)).await;
    }
    let [_, pg_url, out_dir] = args.as_slice() else {
        return Err(
            "usage: bench_handler <postgres-url> <out-dir> | bench_handler --crossover <postgres-url>"
                .into(),
        );
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let rows = snapshot(&mut rng);
    let started = Instant::now();
    let data = training_data(&rows, "bench")?;
    let artifact = fit(
        &data,
        &TrainConfig::default(),
        "bench-model",
        "2026-11-22T00:00:00Z",
        |_, _| {},
    );
    eprintln!(
        "bench: trained on {} ratings in {:.1}s (dim {})",
        rows.len(),
        started.elapsed().as_secs_f64(),
        artifact.dim()
    );
    let model_json = artifact.to_json_vec()?;
    std::fs::write(format!("{out_dir}/model.json"), &model_json)?;
    let parse = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            ModelArtifact::from_json_slice(&model_json).unwrap();
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    println!(
        "model.json {} bytes: parse + index {:.2} ms",
        model_json.len(),
        parse.as_secs_f64() * 1e3
    );

    let store = VectorStore::connect(pg_url, StoreOptions::for_cli()).await?;
    let items = embeddings_csv(&item_embeddings(&artifact, &rows));
    let users: Vec<(String, Vec<f32>)> = user_embeddings(&artifact, &rows)
        .into_iter()
        .map(|(id, v)| (id.to_string(), v))
        .collect();
    let users = embeddings_csv(&users);
    Loader::new(&store)
        .load_version(EmbeddingSource {
            model_version: "bench-model".into(),
            items: EmbeddingFile {
                name: "items".into(),
                reader: items.as_ref(),
            },
            users: EmbeddingFile {
                name: "users".into(),
                reader: users.as_ref(),
            },
        })
        .await?;
    // The same handler twice: k-NN by one batched HNSW query per batch, and by the exact
    // in-memory search of the (400-item) catalogue the Lambda uses for small catalogues.
    let mut modes = Vec::new();
    for (mode, exact_knn_max_items) in [("hnsw ", 0), ("exact", DEFAULT_EXACT_KNN_MAX_ITEMS)] {
        let config = TransformOptions {
            knn_k: 10,
            exact_knn_max_items,
            ..TransformOptions::default()
        };
        let store = VectorStore::connect(pg_url, StoreOptions::for_lambda()).await?;
        let index = PgVectorIndex::new(store, exact_knn_max_items);
        let transformer = Transformer::new(index, Fixed(artifact.clone()), &config);
        transformer.warm_up().await?;
        modes.push((mode, transformer));
    }

    for (name, bytes) in [("1MB", 1024 * 1024), ("3MB", 3 * 1024 * 1024)] {
        let event = batch(&mut rng, bytes);
        std::fs::write(
            format!("{out_dir}/batch-{name}.json"),
            serde_json::to_vec(&event)?,
        )?;
        let records = event.records.len();
        let mut responses = Vec::new();
        for (mode, transformer) in &modes {
            transformer.transform(event.clone()).await?;
            let mut times: Vec<Duration> = Vec::new();
            let mut last = None;
            for _ in 0..RUNS {
                let input = event.clone();
                let t = Instant::now();
                let out = transformer.transform(input).await?;
                times.push(t.elapsed());
                last = Some(out);
            }
            let out = last.ok_or("no run")?;
            let ok = out.counts.ok;
            times.sort();
            let median = times[RUNS / 2].as_secs_f64();
            println!(
                "rust {mode} {name}: {records} records, {ok} Ok, median {:.1} ms/batch, {:.0} records/s",
                median * 1e3,
                records as f64 / median
            );
            responses.push(out.response);
        }
        // Same recommendations either way (up to HNSW's approximation): count list overlap.
        let (same, total) = overlap(&responses[0], &responses[1]);
        println!(
            "  {name}: hnsw and exact lists share {:.1}% of their items ({same} of {total})",
            100.0 * same as f64 / total.max(1) as f64
        );
    }

    Ok(())
}

/// Items shared by the `recommended_items` and `similar_items` lists of two responses to the
/// same batch, and the size of the first's lists.
fn overlap(a: &FirehoseResponse, b: &FirehoseResponse) -> (usize, usize) {
    let lists =
        |record: &reco_domain::firehose::FirehoseResponseRecord| -> Option<Vec<Vec<String>>> {
            if record.result != FirehoseResult::Ok {
                return None;
            }
            let line = BASE64.decode(&record.data).ok()?;
            let value: serde_json::Value = serde_json::from_slice(&line).ok()?;
            Some(
                ["recommended_items", "similar_items"]
                    .iter()
                    .map(|key| {
                        value[key]
                            .as_array()
                            .map(|items| {
                                items
                                    .iter()
                                    .filter_map(|i| i["id"].as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect(),
            )
        };
    let (mut same, mut total) = (0, 0);
    for (x, y) in a.records.iter().zip(&b.records) {
        if let (Some(x), Some(y)) = (lists(x), lists(y)) {
            for (lx, ly) in x.iter().zip(&y) {
                total += lx.len();
                same += lx.iter().filter(|id| ly.contains(id)).count();
            }
        }
    }
    (same, total)
}

/// Where exact in-memory search stops paying: the k-NN of a 1 MB batch's worth of queries
/// (5,400, no exclusions) over catalogues of growing size, by HNSW (one batched statement,
/// the Lambda's options) and by brute force in memory. Each size is loaded as a new version.
async fn crossover(pg_url: &str, rng: &mut ChaCha8Rng) -> Result<(), Box<dyn std::error::Error>> {
    const DIM: usize = 32;
    const QUERIES: usize = 5_400;
    let centres: Vec<Vec<f32>> = (0..200)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut draw = |n: usize| -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let c = &centres[rng.random_range(0..centres.len())];
                c.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect()
            })
            .collect()
    };
    let requests: Vec<KnnRequest> = draw(QUERIES)
        .into_iter()
        .map(|vector| KnnRequest::ByVector {
            vector,
            exclude: Vec::new(),
        })
        .collect();
    let loader = VectorStore::connect(pg_url, StoreOptions::for_cli()).await?;
    let lambda = VectorStore::connect(pg_url, StoreOptions::for_lambda()).await?;
    println!("crossover: k-NN of {QUERIES} queries (k = 10, dim {DIM}), median of 3");
    println!("| items | hnsw batch ms | exact in memory ms | catalogue read ms | exact / hnsw |");
    println!("|---:|---:|---:|---:|---:|");
    for items in [2_000usize, 20_000, 50_000] {
        let rows: Vec<(String, Vec<f32>)> = draw(items)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("X{i:06}"), v))
            .collect();
        let items_csv = embeddings_csv(&rows);
        let users_csv = embeddings_csv(&[("1".to_owned(), vec![1.0; DIM])]);
        let report = Loader::new(&loader)
            .load_version(EmbeddingSource {
                model_version: format!("crossover-{items}"),
                items: EmbeddingFile {
                    name: "items".into(),
                    reader: items_csv.as_ref(),
                },
                users: EmbeddingFile {
                    name: "users".into(),
                    reader: users_csv.as_ref(),
                },
            })
            .await?;
        let t = Instant::now();
        let catalogue = lambda.item_catalogue(&report.embedding_version).await?;
        let read = t.elapsed();
        let mut hnsw = Vec::new();
        let mut exact = Vec::new();
        lambda.knn_batch(&requests, 10).await?;
        for _ in 0..3 {
            let t = Instant::now();
            lambda.knn_batch(&requests, 10).await?;
            hnsw.push(t.elapsed());
            let t = Instant::now();
            catalogue.knn_batch(&requests, 10)?;
            exact.push(t.elapsed());
        }
        hnsw.sort();
        exact.sort();
        println!(
            "| {items} | {:.1} | {:.1} | {:.1} | {:.2} |",
            hnsw[1].as_secs_f64() * 1e3,
            exact[1].as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
            exact[1].as_secs_f64() / hnsw[1].as_secs_f64()
        );
    }
    Ok(())
}
