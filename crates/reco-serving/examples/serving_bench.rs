//! Serving benchmark (run by bench/serving/run.sh, release build; `make bench BENCH=serving`):
//!
//! (a) score-all of every customer: the kernel alone, then kernel + documents + JSON of each
//!     document into a sink that only serialises (the real `score_shard`, the real work);
//! (b) the same scoring through batched pgvector queries (HNSW, `knn_batch` with
//!     `ByVector`) on a sample of customers, extrapolated to all of them, with its recall
//!     against (a)'s exact answers;
//! (c) the publisher (`publish_object`) of one delivered object to an in-memory store and
//!     to the emulator;
//! (d) the sizes of latest documents (batch and stream).
//!
//! Knobs (environment): BENCH_SERVING_CUSTOMERS (1000000), BENCH_SERVING_ITEMS (20000),
//! BENCH_SERVING_DIM (32), BENCH_SERVING_EXCLUSIONS (5 per customer),
//! BENCH_SERVING_PG_SAMPLE (5000), BENCH_SERVING_RECORDS (5000). Needs the local stack
//! (`reco_testkit`: a PostgreSQL database and an emulator bucket of the benchmark's own, dropped
//! at the end). Markdown on stdout, progress on stderr.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_aws::Bucket;
use reco_domain::artifacts::ModelPrefix;
use reco_domain::recommendation::{RecommendationRecord, ScoredItem};
use reco_domain::serving::{CatalogueProduct, LatestDocument, ProductCatalogue};
use reco_serving::documents::{DocumentStore, DocumentStoreError, WriteOutcome};
use reco_serving::publisher::{documents_of_object, publish_object};
use reco_serving::score_all::{DocumentSink, ScoreAllConfig, Shard, ShardInputs, score_shard};
use reco_serving::scoring::{Exclusions, ItemMatrix, top_k};
use reco_testkit::LocalStack;
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{KnnRequest, StoreOptions, VectorStore};

const K: usize = 10;
/// Requests per `knn_batch` call: a large Firehose batch's worth of events.
const PG_BATCH: usize = 500;
const LINES: [&str; 7] = [
    "Classic Cars",
    "Motorcycles",
    "Planes",
    "Ships",
    "Trains",
    "Trucks and Buses",
    "Vintage Cars",
];
const MAKES: [&str; 8] = [
    "Harley Davidson",
    "Alpine Renault",
    "Chevrolet",
    "Ford Falcon",
    "Porsche",
    "Lockheed",
    "Mercedes-Benz",
    "Titanic",
];
const MODELS: [&str; 6] = [
    "Ultimate Chopper",
    "1300",
    "Corvette Convertible",
    "Pickup Truck",
    "356-A Roadster",
    "Cruiser",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn code(i: usize) -> String {
    format!("S{:02}_{:04}", 10 + i / 10_000, i % 10_000)
}

fn catalogue(items: usize) -> ProductCatalogue {
    ProductCatalogue::new((0..items).map(|i| CatalogueProduct {
        product_code: code(i),
        name: format!(
            "{} {} {}",
            1930 + i % 80,
            MAKES[i % MAKES.len()],
            MODELS[(i / 8) % MODELS.len()]
        ),
        product_line: LINES[i % LINES.len()].to_owned(),
        msrp_cents: 3_000 + (i as i64 * 7_919) % 20_000,
    }))
}

fn unit_vectors(rng: &mut ChaCha8Rng, n: usize, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    for row in v.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Serialises every document (as `DocumentStore::put_if_newer` does) and keeps only sizes.
struct SerialisingSink {
    sizes: Mutex<Vec<u32>>,
}

impl DocumentSink for SerialisingSink {
    fn write(
        &self,
        doc: &LatestDocument,
    ) -> impl Future<Output = Result<WriteOutcome, DocumentStoreError>> + Send {
        let outcome = doc
            .to_json_vec()
            .map(|bytes| {
                self.sizes.lock().expect("sizes").push(bytes.len() as u32);
                WriteOutcome::Written
            })
            .map_err(|source| DocumentStoreError::Document {
                key: doc.key(),
                source,
            });
        std::future::ready(outcome)
    }
}

fn size_stats(sizes: &mut [u32]) -> (u32, u32, u32) {
    sizes.sort_unstable();
    if sizes.is_empty() {
        return (0, 0, 0);
    }
    (sizes[0], sizes[sizes.len() / 2], sizes[sizes.len() - 1])
}

fn pg_literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.7}")).collect();
    format!("[{}]", parts.join(","))
}

fn record_line(customer: i64, rng: &mut ChaCha8Rng, items: usize) -> Vec<u8> {
    let pick = |rng: &mut ChaCha8Rng| -> Vec<ScoredItem> {
        (0..K)
            .map(|r| ScoredItem {
                id: code(rng.random_range(0..items)),
                score: 0.9 - r as f32 * 0.01,
            })
            .collect()
    };
    let event = serde_json::json!({
        "session_id": format!("s-{customer}"), "customer_number": customer,
        "browsed_items": [code(1)]
    });
    let record = RecommendationRecord {
        event: serde_json::from_value(event).expect("event"),
        recommended_items: pick(rng),
        similar_items: pick(rng),
        recommendation_id: format!("{customer:032x}"),
        model_version: "20261201T000000Z-s42".into(),
        embedding_version: "20261201T000000Z-s42".into(),
        generated_at: "2026-12-01T10:00:00.000Z".into(),
        experiment: None,
        variant: None,
    };
    record.to_ndjson_line()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let customers = env_usize("BENCH_SERVING_CUSTOMERS", 1_000_000);
    let n_items = env_usize("BENCH_SERVING_ITEMS", 20_000);
    let dim = env_usize("BENCH_SERVING_DIM", 32);
    let per_customer = env_usize("BENCH_SERVING_EXCLUSIONS", 5);
    let sample = env_usize("BENCH_SERVING_PG_SAMPLE", 5_000).min(customers);
    let records = env_usize("BENCH_SERVING_RECORDS", 5_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!(
        "== generating {customers} customers x {n_items} items x {dim} dims (seeded unit vectors)"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let ids: Vec<String> = (0..n_items).map(code).collect();
    let item_values = unit_vectors(&mut rng, n_items, dim);
    let users = unit_vectors(&mut rng, customers, dim);
    let mut pairs = Vec::with_capacity(customers * per_customer);
    for u in 0..customers as u32 {
        for _ in 0..per_customer {
            pairs.push((u, rng.random_range(0..n_items as u32)));
        }
    }
    let exclusions = Exclusions::from_pairs(customers, pairs)?;
    let items = ItemMatrix::new(ids.clone(), item_values.clone(), dim)?;
    let flop = 2.0 * customers as f64 * n_items as f64 * dim as f64;

    // (a1) The kernel alone, all customers in one call.
    eprintln!("== (a) kernel alone");
    let started = Instant::now();
    let kernel = top_k(&items, &users, exclusions.all(), K)?;
    let kernel_secs = started.elapsed().as_secs_f64();
    let exact_sample: Vec<Vec<u32>> = (0..sample).map(|u| kernel.of(u).0.to_vec()).collect();
    drop(kernel);

    // (a2) score_shard: kernel in chunks + documents + JSON, to a serialising sink.
    eprintln!("== (a) score_shard: kernel + documents + JSON");
    let inputs = ShardInputs {
        model_version: "20261201T000000Z-s42".into(),
        snapshot: "2026-12-01".into(),
        items: items.clone(),
        customers_total: customers,
        customers: (0..customers as i64).map(|c| 100 + c).collect(),
        users: users.clone(),
        exclusions: exclusions.clone(),
        popularity: Some(ids.iter().map(|c| (c.clone(), 1)).collect()),
        catalogue: Arc::new(catalogue(n_items)),
        variant: None,
    };
    let config = ScoreAllConfig {
        model_version: None,
        model_prefix: ModelPrefix::default(),
        snapshot: None,
        shard: Shard::ALL,
        k: K,
        generated_at: "2026-12-01T02:00:00.000Z".into(),
        chunk_customers: reco_serving::score_all::CHUNK_CUSTOMERS,
    };
    let sink = SerialisingSink {
        sizes: Mutex::new(Vec::with_capacity(customers + 1)),
    };
    let started = Instant::now();
    let report = score_shard(inputs, &config, &sink).await?;
    let full_secs = started.elapsed().as_secs_f64();
    assert_eq!(report.written as usize, customers);
    let mut sizes = sink.sizes.into_inner().expect("sizes");
    let serialised: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
    let batch_sizes = size_stats(&mut sizes);
    drop(sizes);

    // (b) pgvector: the sample's queries, batched, HNSW.
    eprintln!("== (b) pgvector knn_batch on {sample} customers");
    let stack = LocalStack::get();
    let database = stack.pg_database().await;
    let url = database.url.clone();
    let db = database.name.clone();
    let dir = std::env::temp_dir().join(&db);
    std::fs::create_dir_all(&dir)?;
    let pg = async {
        {
            let mut f =
                std::io::BufWriter::new(std::fs::File::create(dir.join("item_embeddings.csv"))?);
            writeln!(f, "id,embedding")?;
            for (id, v) in ids.iter().zip(item_values.chunks_exact(dim)) {
                writeln!(f, "{id},\"{}\"", pg_literal(v))?;
            }
            let mut f =
                std::io::BufWriter::new(std::fs::File::create(dir.join("user_embeddings.csv"))?);
            writeln!(f, "id,embedding")?;
            for (u, v) in users.chunks_exact(dim).take(sample).enumerate() {
                writeln!(f, "{},\"{}\"", 100 + u, pg_literal(v))?;
            }
        }
        let store = VectorStore::connect(&url, StoreOptions::for_cli()).await?;
        let open = |file: &str| -> Result<_, std::io::Error> {
            Ok(tokio::io::BufReader::new(tokio::fs::File::from_std(
                std::fs::File::open(dir.join(file))?,
            )))
        };
        let load = Loader::new(&store)
            .load_version(EmbeddingSource {
                model_version: "bench".into(),
                items: EmbeddingFile {
                    name: "item_embeddings.csv".into(),
                    reader: open("item_embeddings.csv")?,
                },
                users: EmbeddingFile {
                    name: "user_embeddings.csv".into(),
                    reader: open("user_embeddings.csv")?,
                },
            })
            .await?;
        let requests: Vec<KnnRequest> = users
            .chunks_exact(dim)
            .take(sample)
            .enumerate()
            .map(|(u, v)| KnnRequest::ByVector {
                vector: v.to_vec(),
                exclude: exclusions
                    .of(u)
                    .iter()
                    .map(|&r| ids[r as usize].clone())
                    .collect(),
            })
            .collect();
        // Warm-up: the index into shared buffers.
        store
            .knn_batch(&requests[..PG_BATCH.min(sample)], K)
            .await?;
        let started = Instant::now();
        let mut answers = Vec::with_capacity(sample);
        for batch in requests.chunks(PG_BATCH) {
            answers.extend(store.knn_batch(batch, K).await?);
        }
        let secs = started.elapsed().as_secs_f64();
        let hits: usize = answers
            .iter()
            .zip(&exact_sample)
            .map(|(got, exact)| {
                got.iter()
                    .filter(|i| exact.iter().any(|&r| ids[r as usize] == i.id))
                    .count()
            })
            .sum();
        store.pool().close().await;
        Ok::<_, Box<dyn std::error::Error>>((
            secs,
            hits as f64 / (sample * K) as f64,
            load.hnsw_index.as_secs_f64(),
        ))
    }
    .await;
    drop(database);
    std::fs::remove_dir_all(&dir).ok();
    let (pg_secs, recall, hnsw_secs) = pg?;

    // (c) publisher: one delivered object of `records` customers.
    eprintln!("== (c) publisher: one object of {records} records");
    let mut body = Vec::new();
    for c in 0..records as i64 {
        body.extend(record_line(100 + c, &mut rng, n_items));
    }
    let cat = catalogue(n_items);
    let (stream_docs, _) = documents_of_object("bench.ndjson", &body, &cat)?;
    let mut stream_sizes: Vec<u32> = stream_docs
        .iter()
        .map(|d| d.to_json_vec().map(|b| b.len() as u32))
        .collect::<Result<_, _>>()?;
    let stream_sizes = size_stats(&mut stream_sizes);
    let memory = DocumentStore::new(Bucket::in_memory("bench"));
    let started = Instant::now();
    let r = publish_object("bench.ndjson", &body, &cat, &memory).await?;
    let memory_secs = started.elapsed().as_secs_f64();
    assert_eq!(r.written as usize, records);
    let bucket = stack.s3_bucket().await;
    let emulator = DocumentStore::new(stack.bucket(&bucket.name));
    let started = Instant::now();
    let r = publish_object("bench.ndjson", &body, &cat, &emulator).await?;
    let emulator_secs = started.elapsed().as_secs_f64();
    assert_eq!(r.written as usize, records);
    let started = Instant::now();
    let r = publish_object("bench.ndjson", &body, &cat, &emulator).await?;
    let replay_secs = started.elapsed().as_secs_f64();
    assert_eq!(r.kept as usize, records);
    drop(bucket);

    let per_s = |n: usize, s: f64| n as f64 / s;
    println!(
        "## serving: {customers} customers x {n_items} items x {dim} dims, k = {K}, {per_customer} exclusions per customer, {cores} cores"
    );
    println!();
    println!("| what | seconds | customers/s | GFLOP/s | note |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| (a) kernel alone (sgemm + top-k), all customers | {kernel_secs:.1} | {:.0} | {:.1} | measured |",
        per_s(customers, kernel_secs),
        flop / kernel_secs / 1e9
    );
    println!(
        "| (a) score_shard: kernel + documents + JSON (null sink) | {full_secs:.1} | {:.0} | {:.1} | measured; {:.0} MB of JSON |",
        per_s(customers, full_secs),
        flop / full_secs / 1e9,
        serialised as f64 / 1e6
    );
    let pg_all = pg_secs * customers as f64 / sample as f64;
    println!(
        "| (b) pgvector HNSW knn_batch, {sample} customers ({PG_BATCH} per call) | {pg_secs:.1} | {:.0} | | measured; recall@{K} vs exact {recall:.3}; HNSW build {hnsw_secs:.1} s |",
        per_s(sample, pg_secs)
    );
    println!(
        "| (b) pgvector, extrapolated to {customers} customers | {pg_all:.0} | {:.0} | | EXTRAPOLATED ({:.0}x the score_shard time) |",
        per_s(customers, pg_all),
        pg_all / full_secs
    );
    println!();
    println!("| publisher, one object of {records} records | seconds | documents/s |");
    println!("|---|---:|---:|");
    println!(
        "| (c) to an in-memory bucket (object_store InMemory) | {memory_secs:.2} | {:.0} |",
        per_s(records, memory_secs)
    );
    println!(
        "| (c) to the emulator (moto), all written | {emulator_secs:.2} | {:.0} |",
        per_s(records, emulator_secs)
    );
    println!(
        "| (c) to the emulator, replay (all kept) | {replay_secs:.2} | {:.0} |",
        per_s(records, replay_secs)
    );
    println!();
    println!("| (d) latest document | min bytes | median bytes | max bytes |");
    println!("|---|---:|---:|---:|");
    println!(
        "| batch ({K} recommended, display fields) | {} | {} | {} |",
        batch_sizes.0, batch_sizes.1, batch_sizes.2
    );
    println!(
        "| stream ({K} recommended + {K} similar) | {} | {} | {} |",
        stream_sizes.0, stream_sizes.1, stream_sizes.2
    );
    println!();
    Ok(())
}
