//! Benchmark of the transform handler (`make bench BENCH=streaming`, release build).
//!
//! usage: bench_handler --small-db URL --out DIR --python EXE --python-handler PATH
//!                      [--big-db URL --items N] [--passes N] [--batches N] [--curve 1,2,4,8]
//!                      [--curve-batches N] [--python-passes N]
//!        bench_handler --crossover URL
//! (every database: an empty one with the `vector` extension; run.sh creates and drops them)
//!
//! Two catalogues, each with its own database:
//! - small: a model trained with reco-train on a seeded synthetic snapshot (2,000 customers x
//!   400 products); the Rust handler answers it in memory (exact) and through pgvector;
//!   the big catalogue's main Rust row is the in-memory partitioned replica read from pgvector
//!   (timed once it is ready; its build time and memory printed), next to the HNSW path;
//! - big (`--items`, default 1,000,000, 0 skips it): `N x 32` clustered item vectors loaded by
//!   `reco_vector_loader::Loader` (the production HNSW index), a user tower of dimension 32
//!   that knows 100,000 customers (their embeddings loaded as the user table), unknown
//!   customers embedded from their features.
//!
//! For each, a stream of realistic sessions (see [`GenParams`]) is cut into consecutive
//! Firehose batches (`--batches` of 1 MB, then two of 3 MB) with 56-digit record ids; the
//! batches are written to `DIR` and the Python handler (one query per record, same
//! `hnsw.ef_search` as the Rust pool) answers the same files. Every figure counts `Ok`
//! records only; the benchmark exits with status 1 if any record of these valid events comes
//! back not `Ok`. Rust runs each sequence `--passes` times, each pass with a new handler
//! (empty k-NN caches): batch 1 is the cold figure, the other 1 MB batches the steady state,
//! medians over the passes. Then recall@10 of the pgvector answers against exact search of
//! the same queries over the same vectors, and the concurrency curve: N handler instances
//! (own `Transformer` and Lambda-sized pool each) against the one PostgreSQL, the stream
//! split by session as Kinesis shards would split it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_domain::firehose::{FirehoseEvent, FirehoseRecord, FirehoseResponse, FirehoseResult};
use reco_domain::model::{
    CustomerFeatures, FEATURE_CITY, FEATURE_COUNTRY, FEATURE_CREDIT_LIMIT, ModelArtifact, Tower,
};
use reco_train::publish::{embeddings_csv, item_embeddings, user_embeddings};
use reco_train::snapshot::{SnapshotRow, training_data};
use reco_train::towers::{TrainConfig, fit};
use reco_transform_lambda::knn_cache::KnnCacheStats;
use reco_transform_lambda::pg_index::{DEFAULT_EXACT_KNN_MAX_ITEMS, PgVectorIndex};
use reco_transform_lambda::ports::{ModelLoadError, ModelStore};
use reco_transform_lambda::{TransformOptions, Transformer};
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{KnnRequest, StoreOptions, VectorStore};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Handler = Transformer<PgVectorIndex, Fixed>;

const SMALL_CUSTOMERS: i64 = 2_000;
const SMALL_PRODUCTS: usize = 400;
const RATINGS_PER_CUSTOMER: usize = 15;
const COUNTRIES: [&str; 6] = ["France", "USA", "Germany", "Japan", "Spain", "Australia"];
/// Known customers of the big catalogue's user tower.
const BIG_CUSTOMERS: usize = 100_000;
/// Clusters of the big catalogue's item vectors (contiguous ids per cluster).
const BIG_CLUSTERS: usize = 1_000;
const MB: usize = 1024 * 1024;
/// Records sampled for recall@10 (exact search of 1M vectors costs ~10 ms a query here).
const RECALL_RECORDS: usize = 500;

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

// ----------------------------------------------------------------------------------------
// Arguments

struct Args {
    small_db: String,
    big_db: Option<String>,
    out: PathBuf,
    items: usize,
    python: String,
    python_handler: String,
    passes: usize,
    python_passes: usize,
    batches: usize,
    curve: Vec<usize>,
    curve_batches: usize,
}

fn parse_args(args: &[String]) -> Result<Args, Error> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        map.insert(flag.as_str(), value.as_str());
    }
    let need = |k: &str| -> Result<String, Error> {
        map.get(k)
            .map(|v| (*v).to_owned())
            .ok_or_else(|| format!("missing {k} (see the usage in bench_handler.rs)").into())
    };
    let num = |k: &str, default: usize| -> Result<usize, Error> {
        Ok(map
            .get(k)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let curve = match map.get("--curve") {
        Some(v) => v
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<usize>, _>>()?,
        None => vec![1, 2, 4, 8],
    };
    Ok(Args {
        small_db: need("--small-db")?,
        big_db: map.get("--big-db").map(|v| (*v).to_owned()),
        out: PathBuf::from(need("--out")?),
        items: num("--items", 1_000_000)?,
        python: need("--python")?,
        python_handler: need("--python-handler")?,
        passes: num("--passes", 3)?.max(1),
        python_passes: num("--python-passes", 1)?.max(1),
        batches: num("--batches", 8)?.max(2),
        curve,
        curve_batches: num("--curve-batches", 24)?.max(1),
    })
}

// ----------------------------------------------------------------------------------------
// Realistic sessions

/// Zipf-like sampler over ranks `0..n`: P(rank r) ∝ 1 / (r + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cdf = (0..n)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        Self { cdf }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cdf.last().copied().unwrap_or(0.0);
        let u = rng.random::<f64>() * total;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// What the session generator draws from (printed with the results).
#[derive(Debug, Clone)]
struct GenParams {
    /// Known customers; customer of popularity rank r is `first_customer + r`.
    customers: usize,
    first_customer: i64,
    /// Zipf exponent of customer activity.
    customer_s: f64,
    /// Share of events from customers the model does not know.
    unknown_share: f64,
    /// Catalogue size; items of a cluster have contiguous indices.
    items: usize,
    cluster_size: usize,
    /// Zipf exponent of item popularity (ranks spread over the catalogue by a shuffle).
    item_s: f64,
    /// Sessions open at once (their events interleave in the stream).
    open_sessions: usize,
    /// Events per session: uniform in 1..=max_events; each adds one browsed item.
    max_events: usize,
    /// Next item: re-view an earlier item of the session with this probability...
    review_p: f64,
    /// ... else a neighbour of the last item in its cluster (within `window` indices)...
    neighbour_p: f64,
    window: usize,
    // ... else a new item drawn by popularity.
}

impl GenParams {
    fn describe(&self) -> String {
        format!(
            "sessions: {} known customers (Zipf s = {}) + {:.0}% events from unknown customers; \
             {} open sessions interleaved, 1-{} click events each, browse_history +1 item per \
             event; next item: re-view {:.0}%, same-cluster neighbour (±{}) {:.0}%, else by \
             popularity (Zipf s = {} over {} items, clusters of {})",
            self.customers,
            self.customer_s,
            self.unknown_share * 100.0,
            self.open_sessions,
            self.max_events,
            self.review_p * 100.0,
            self.window,
            self.neighbour_p * 100.0,
            self.item_s,
            self.items,
            self.cluster_size
        )
    }
}

struct Session {
    number: u64,
    customer: i64,
    events: usize,
    items: Vec<usize>,
}

/// An endless stream of click events from interleaved sessions.
struct SessionStream {
    params: GenParams,
    code: fn(usize) -> String,
    rng: ChaCha8Rng,
    customers: Zipf,
    popularity: Zipf,
    by_rank: Vec<u32>,
    open: Vec<Session>,
    next_session: u64,
    next_record: u64,
    seconds: u64,
}

/// One event of the stream: its session and its JSON payload.
struct StreamEvent {
    session: u64,
    record_id: String,
    data: Vec<u8>,
}

impl SessionStream {
    fn new(params: GenParams, code: fn(usize) -> String, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut by_rank: Vec<u32> = (0..params.items as u32).collect();
        by_rank.shuffle(&mut rng);
        let mut stream = Self {
            customers: Zipf::new(params.customers, params.customer_s),
            popularity: Zipf::new(params.items, params.item_s),
            by_rank,
            open: Vec::new(),
            next_session: 0,
            next_record: 0,
            seconds: 0,
            code,
            rng,
            params,
        };
        for _ in 0..stream.params.open_sessions {
            let s = stream.new_session();
            stream.open.push(s);
        }
        stream
    }

    fn new_session(&mut self) -> Session {
        let customer = if self.rng.random_bool(self.params.unknown_share) {
            50_000_000 + self.rng.random_range(0..1_000_000)
        } else {
            self.params.first_customer + self.customers.sample(&mut self.rng) as i64
        };
        self.next_session += 1;
        Session {
            number: self.next_session,
            customer,
            events: self.rng.random_range(1..=self.params.max_events),
            items: Vec::new(),
        }
    }

    fn popular(&mut self) -> usize {
        self.by_rank[self.popularity.sample(&mut self.rng)] as usize
    }

    fn next_item(&mut self, slot: usize) -> usize {
        let p = &self.params;
        let (review_p, neighbour_p, window, cluster_size, items) =
            (p.review_p, p.neighbour_p, p.window, p.cluster_size, p.items);
        let Some(&last) = self.open[slot].items.last() else {
            return self.popular();
        };
        let u: f64 = self.rng.random();
        if u < review_p {
            let seen = &self.open[slot].items;
            return seen[self.rng.random_range(0..seen.len())];
        }
        if u < review_p + neighbour_p {
            let start = last / cluster_size * cluster_size;
            let end = (start + cluster_size).min(items);
            let lo = last.saturating_sub(window).max(start);
            let hi = (last + window + 1).min(end);
            return self.rng.random_range(lo..hi);
        }
        self.popular()
    }

    fn next_event(&mut self) -> StreamEvent {
        let slot = self.rng.random_range(0..self.open.len());
        let item = self.next_item(slot);
        self.open[slot].items.push(item);
        let browse: Vec<serde_json::Value> = self.open[slot]
            .items
            .iter()
            .map(|&i| {
                serde_json::json!({"product_code": (self.code)(i),
                    "quantity": 1 + i % 3, "in_shopping_cart": i % 10 == 0})
            })
            .collect();
        let session = &self.open[slot];
        let c = session.customer;
        let country = COUNTRIES[c.rem_euclid(6) as usize];
        self.seconds += 1;
        self.next_record += 1;
        let event = serde_json::json!({
            "session_id": format!("sess-{:08}", session.number),
            "customer_number": c,
            "city": format!("{country}-city-{}", c.rem_euclid(7)),
            "country": country,
            "credit_limit": 10_000.0 + c.rem_euclid(50) as f64 * 2_000.0,
            "browse_history": browse,
            "event_id": format!("evt-{:010}", self.next_record),
            "event_time": format!("2026-11-22T{:02}:{:02}:{:02}Z",
                (self.seconds / 3600) % 24, (self.seconds / 60) % 60, self.seconds % 60),
        });
        let number = session.number;
        if session.items.len() >= session.events {
            self.open[slot] = self.new_session();
        }
        StreamEvent {
            session: number,
            // Firehose record ids are 56 decimal digits.
            record_id: format!("4954698668313554428650745793{:028}", self.next_record),
            data: serde_json::to_vec(&event).expect("a JSON value serialises"),
        }
    }

    /// The next `bytes` of payload (at least one event) as one Firehose batch.
    fn batch(&mut self, bytes: usize) -> FirehoseEvent {
        let mut events = Vec::new();
        let mut total = 0;
        while total < bytes {
            let e = self.next_event();
            total += e.data.len();
            events.push(e);
        }
        firehose(events)
    }
}

fn firehose(events: Vec<StreamEvent>) -> FirehoseEvent {
    FirehoseEvent {
        invocation_id: Some("bench".into()),
        delivery_stream_arn: None,
        source_kinesis_stream_arn: None,
        region: None,
        records: events
            .into_iter()
            .map(|e| FirehoseRecord {
                record_id: e.record_id,
                approximate_arrival_timestamp: Some(1_763_780_000_000),
                data: BASE64.encode(e.data),
                kinesis_record_metadata: None,
            })
            .collect(),
    }
}

/// A batch of the benchmark sequence.
struct Batch {
    label: &'static str,
    file: PathBuf,
    event: FirehoseEvent,
}

/// `n_small` 1 MB batches then two 3 MB batches, consecutive in the stream, written to `out`.
fn sequence(
    stream: &mut SessionStream,
    n_small: usize,
    out: &Path,
    prefix: &str,
) -> Result<Vec<Batch>, Error> {
    let mut batches = Vec::new();
    for i in 0..n_small + 2 {
        let (label, bytes) = if i < n_small {
            ("1MB", MB)
        } else {
            ("3MB", 3 * MB)
        };
        let event = stream.batch(bytes);
        let file = out.join(format!("batch-{prefix}-{i:02}-{label}.json"));
        std::fs::write(&file, serde_json::to_vec(&event)?)?;
        batches.push(Batch { label, file, event });
    }
    Ok(batches)
}

// ----------------------------------------------------------------------------------------
// Catalogues and models

fn small_product(p: usize) -> String {
    format!("S{}_{:04}", 10 + p % 8, p)
}

fn big_product(i: usize) -> String {
    format!("P{i:07}")
}

fn snapshot(rng: &mut ChaCha8Rng) -> Vec<SnapshotRow> {
    let mut rows = Vec::new();
    for c in 0..SMALL_CUSTOMERS {
        let country = COUNTRIES[(c as usize) % COUNTRIES.len()];
        // Each country prefers one slice of the catalogue: learnable structure.
        let home = (c as usize % COUNTRIES.len()) * SMALL_PRODUCTS / COUNTRIES.len();
        for _ in 0..RATINGS_PER_CUSTOMER {
            let p = if rng.random_bool(0.8) {
                (home + rng.random_range(0..SMALL_PRODUCTS / COUNTRIES.len())) % SMALL_PRODUCTS
            } else {
                rng.random_range(0..SMALL_PRODUCTS)
            };
            rows.push(SnapshotRow {
                customer_number: 100 + c,
                city: Some(format!("{country}-city-{}", c % 7)),
                country: Some(country.to_owned()),
                credit_limit: Some(10_000.0 + (c % 50) as f64 * 2_000.0),
                product_code: small_product(p),
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

fn features(c: i64, known: bool) -> CustomerFeatures {
    let country = COUNTRIES[c.rem_euclid(6) as usize];
    CustomerFeatures {
        customer_number: known.then_some(c),
        city: Some(format!("{country}-city-{}", c.rem_euclid(7))),
        country: Some(country.to_owned()),
        credit_limit: Some(10_000.0 + c.rem_euclid(50) as f64 * 2_000.0),
    }
}

/// Raw user-tower output of `f`'s features alone (no id part).
fn feature_raw(model: &ModelArtifact, f: &CustomerFeatures) -> Vec<f64> {
    let tower = &model.user_tower;
    let categorical: Vec<Option<&str>> = tower
        .categorical
        .iter()
        .map(|c| match c.name.as_str() {
            FEATURE_CITY => f.city.as_deref(),
            FEATURE_COUNTRY => f.country.as_deref(),
            _ => None,
        })
        .collect();
    let numeric: Vec<Option<f64>> = tower
        .numeric
        .iter()
        .map(|n| {
            (n.name == FEATURE_CREDIT_LIMIT)
                .then_some(f.credit_limit)
                .flatten()
        })
        .collect();
    tower.raw(&tower.encode(&categorical, &numeric), None, model.factors)
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// The big catalogue's model: the trained model's features and item tower with a user tower
/// that knows customers `1..=BIG_CUSTOMERS`, each id part pointing at a "home" cluster of
/// the item vectors (so that customer queries land near items, as trained ones would).
fn big_model(small: &ModelArtifact, centres: &[Vec<f32>], rng: &mut ChaCha8Rng) -> ModelArtifact {
    let factors = small.factors;
    let feature_norm = {
        let n = 60;
        (0..n)
            .map(|c| {
                let raw = feature_raw(small, &features(c, false));
                raw.iter().map(|x| x * x).sum::<f64>().sqrt()
            })
            .sum::<f64>()
            / n as f64
    };
    let scale = (4.0 * feature_norm).max(1.0) as f32;
    let mut ids = Vec::with_capacity(BIG_CUSTOMERS);
    let mut parts = Vec::with_capacity(BIG_CUSTOMERS);
    for c in 1..=BIG_CUSTOMERS {
        let home = &centres[rng.random_range(0..centres.len())];
        let v: Vec<f32> = home[..factors]
            .iter()
            .map(|x| x + rng.random_range(-0.3..0.3))
            .collect();
        let n = norm(&v).max(1e-6);
        ids.push(c.to_string());
        parts.push(v.iter().map(|x| x / n * scale).collect());
    }
    let t = &small.user_tower;
    ModelArtifact {
        model_version: "bench-1m".into(),
        user_tower: Tower::new(
            t.categorical.clone(),
            t.numeric.clone(),
            t.weights.clone(),
            ids,
            parts,
        ),
        ..small.clone()
    }
}

fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", parts.join(","))
}

/// Generates, writes and loads the big catalogue; returns the model.
async fn load_big(
    url: &str,
    items: usize,
    small: &ModelArtifact,
    out: &Path,
) -> Result<ModelArtifact, Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let dim = small.dim();
    let clusters = BIG_CLUSTERS.min(items);
    let cluster_size = items.div_ceil(clusters);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let model = big_model(small, &centres, &mut rng);
    let started = Instant::now();
    let items_csv = out.join("big_items.csv");
    let users_csv = out.join("big_users.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&items_csv)?);
        writeln!(f, "id,embedding")?;
        for i in 0..items {
            let c = &centres[i / cluster_size];
            let v: Vec<f32> = c.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect();
            writeln!(f, "{},\"{}\"", big_product(i), literal(&v))?;
        }
        let mut u = std::io::BufWriter::new(std::fs::File::create(&users_csv)?);
        writeln!(u, "id,embedding")?;
        for c in 1..=BIG_CUSTOMERS as i64 {
            writeln!(
                u,
                "{c},\"{}\"",
                literal(&model.embed_customer(&features(c, true)))
            )?;
        }
    }
    eprintln!(
        "bench: generated {items} x {dim} item vectors and {BIG_CUSTOMERS} user embeddings in {:.1} s; loading",
        started.elapsed().as_secs_f64()
    );
    let store = VectorStore::connect(url, StoreOptions::for_cli()).await?;
    let open = |path: &Path| -> Result<_, std::io::Error> {
        Ok(tokio::io::BufReader::with_capacity(
            1 << 20,
            tokio::fs::File::from_std(std::fs::File::open(path)?),
        ))
    };
    let report = Loader::new(&store)
        .load_version(EmbeddingSource {
            model_version: model.model_version().to_owned(),
            items: EmbeddingFile {
                name: "big_items.csv".into(),
                reader: open(&items_csv)?,
            },
            users: EmbeddingFile {
                name: "big_users.csv".into(),
                reader: open(&users_csv)?,
            },
        })
        .await?;
    store.pool().close().await;
    std::fs::remove_file(&items_csv).ok();
    std::fs::remove_file(&users_csv).ok();
    println!(
        "big catalogue: {} items x {} dims, {} users, loaded by reco_vector_loader::Loader: copy {:.1} s, keys {:.1} s, HNSW {:.1} s",
        report.item_rows,
        report.dim,
        report.user_rows,
        report.copy_items.as_secs_f64(),
        report.primary_keys.as_secs_f64(),
        report.hnsw_index.as_secs_f64()
    );
    Ok(model)
}

// ----------------------------------------------------------------------------------------
// Runs

/// Progress on stderr, seconds since the start.
fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[bench {:6.1} s] {what}", start.elapsed().as_secs_f64());
}

/// A handler configuration.
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    exact_knn_max_items: usize,
    /// `None`: the transform's default.
    knn_cache_items: Option<usize>,
    /// `RECO_MEMORY_INDEX_MAX_MB`; `None`: the default, and the handler waits for the replica.
    memory_index_max_mb: Option<usize>,
}

async fn handler(url: &str, model: &ModelArtifact, mode: Mode) -> Result<Handler, Error> {
    let defaults = TransformOptions::default();
    let options = TransformOptions {
        exact_knn_max_items: mode.exact_knn_max_items,
        knn_cache_items: mode.knn_cache_items.unwrap_or(defaults.knn_cache_items),
        memory_index_max_mb: mode
            .memory_index_max_mb
            .unwrap_or(defaults.memory_index_max_mb),
        ..defaults
    };
    let store = VectorStore::connect(url, StoreOptions::for_lambda()).await?;
    let index = PgVectorIndex::new(store, options.exact_knn_max_items)
        .with_knn_cache_items(options.knn_cache_items)
        .with_customer_vector_cache(options.customer_vector_cache)
        .with_memory_index(options.memory_index_max_mb, options.knn_recall_target);
    // As the Lambda loads it (model.bin): known customers' vectors come from the user table.
    let transformer = Transformer::new(index, Fixed(model.without_id_parts()), &options);
    transformer.warm_up().await?;
    if mode.memory_index_max_mb.is_none() {
        // The replica is built in the background from the warm-up on: wait for it.
        let started = Instant::now();
        let stats = loop {
            if let Some(stats) = transformer.index().replica_stats() {
                break stats;
            }
            if let Some(version) = transformer.index().replica().failed() {
                return Err(
                    format!("the replica of {version} could not be built (log above)").into(),
                );
            }
            if started.elapsed() > Duration::from_secs(900) {
                return Err("the replica was not ready after 900 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        println!(
            "{}: replica ready after {:.1} s: {} items, {} lists, nprobe {} (calibrated recall@10 {:.3}), {:.0} MiB; read {:.1} s, k-means + assignment {:.1} s, calibration {:.1} s",
            mode.name,
            started.elapsed().as_secs_f64(),
            stats.items,
            stats.lists,
            stats.nprobe,
            stats.calibrated_recall,
            stats.bytes as f64 / (1024.0 * 1024.0),
            stats.read_secs,
            stats.partition_secs,
            stats.calibrate_secs
        );
    }
    Ok(transformer)
}

/// The replica's probe count and live recall after a pass, if it has one.
fn replica_line(t: &Handler) -> Option<String> {
    t.index().replica_stats().map(|s| {
        format!(
            "nprobe {} of {} lists after the pass; live check: {} real queries searched exactly, recall@10 customers {}, sessions {}",
            s.nprobe,
            s.lists,
            s.live_queries,
            s.live_recall.map_or("-".into(), |r| format!("{r:.3}")),
            s.live_similar_recall.map_or("-".into(), |r| format!("{r:.3}"))
        )
    })
}

/// One batch answered by one handler.
#[derive(Clone, Copy, Default)]
struct BatchRun {
    records: usize,
    ok: usize,
    failed: usize,
    dropped: usize,
    response_full: usize,
    secs: f64,
    stats: KnnCacheStats,
}

impl BatchRun {
    fn not_ok(&self) -> usize {
        self.records - self.ok
    }
}

/// Answers `event` and counts (clone outside the timing).
async fn answer(t: &Handler, event: &FirehoseEvent) -> Result<(BatchRun, FirehoseResponse), Error> {
    let input = event.clone();
    t.index().reset_cache_stats();
    let started = Instant::now();
    let out = t.transform(input).await?;
    let secs = started.elapsed().as_secs_f64();
    let c = out.counts;
    Ok((
        BatchRun {
            records: c.records,
            ok: c.ok,
            failed: c.failed,
            dropped: c.dropped,
            response_full: c.response_full,
            secs,
            stats: t.index().cache_stats(),
        },
        out.response,
    ))
}

/// `passes` passes over `batches`, each with a new handler; the last pass's responses.
async fn run_rust(
    url: &str,
    model: &ModelArtifact,
    mode: Mode,
    batches: &[Batch],
    passes: usize,
) -> Result<(Vec<Vec<BatchRun>>, Vec<FirehoseResponse>), Error> {
    let mut all = Vec::new();
    let mut last = Vec::new();
    for pass in 0..passes {
        progress(&format!("{}: pass {}", mode.name, pass + 1));
        let t = handler(url, model, mode).await?;
        let mut runs = Vec::new();
        last.clear();
        for b in batches {
            let (run, response) = answer(&t, &b.event).await?;
            runs.push(run);
            last.push(response);
        }
        if let Some(line) = replica_line(&t) {
            println!("{}: pass {}: {line}", mode.name, pass + 1);
        }
        drop(t);
        all.push(runs);
    }
    Ok((all, last))
}

/// The Python handler over the same files, `passes` times.
fn run_python(
    args: &Args,
    url: &str,
    ef_search: u32,
    batches: &[Batch],
) -> Result<Vec<Vec<BatchRun>>, Error> {
    let mut all = Vec::new();
    for pass in 0..args.python_passes {
        progress(&format!("python: pass {}", pass + 1));
        let output = std::process::Command::new(&args.python)
            .arg(&args.python_handler)
            .args(["--ef-search", &ef_search.to_string(), "--json", url])
            .args(batches.iter().map(|b| &b.file))
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "python_handler.py failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let mut runs = Vec::new();
        for line in String::from_utf8(output.stdout)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
            runs.push(BatchRun {
                records: n("records"),
                ok: n("ok"),
                failed: n("records") - n("ok"),
                secs: v["seconds"].as_f64().unwrap_or(f64::NAN),
                ..BatchRun::default()
            });
        }
        if runs.len() != batches.len() {
            return Err(format!(
                "python_handler.py answered {} of {} batches",
                runs.len(),
                batches.len()
            )
            .into());
        }
        all.push(runs);
    }
    Ok(all)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Ok records per second of the batches of `runs` that `keep` selects.
fn ok_rate(runs: &[BatchRun], batches: &[Batch], keep: impl Fn(usize, &Batch) -> bool) -> f64 {
    let (ok, secs) = runs
        .iter()
        .zip(batches)
        .enumerate()
        .filter(|(i, (_, b))| keep(*i, b))
        .fold((0, 0.0), |(ok, secs), (_, (r, _))| {
            (ok + r.ok, secs + r.secs)
        });
    ok as f64 / secs
}

/// Cold (batch 1), steady (the other 1 MB batches) and 3 MB Ok records/s, medians over passes.
fn rates(passes: &[Vec<BatchRun>], batches: &[Batch]) -> [f64; 3] {
    let per = |keep: &dyn Fn(usize, &Batch) -> bool| {
        median(passes.iter().map(|p| ok_rate(p, batches, keep)).collect())
    };
    [
        per(&|i, _| i == 0),
        per(&|i, b| i > 0 && b.label == "1MB"),
        per(&|_, b| b.label == "3MB"),
    ]
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * n as f64 / d as f64)
    }
}

/// Cache figures of the last pass: scans/record cold and warm, hit rates after batch 1.
fn cache_line(runs: &[BatchRun]) -> String {
    let Some((first, rest)) = runs.split_first() else {
        return String::new();
    };
    let mut s = KnnCacheStats::default();
    let mut records = 0;
    for r in rest {
        records += r.records;
        s.customer_hits += r.stats.customer_hits;
        s.customer_misses += r.stats.customer_misses;
        s.similar_merged += r.stats.similar_merged;
        s.similar_fallbacks += r.stats.similar_fallbacks;
        s.item_hits += r.stats.item_hits;
        s.item_misses += r.stats.item_misses;
        s.scans += r.stats.scans;
    }
    format!(
        "HNSW scans/record {:.2} (batch 1) / {:.2} (after); customer hits {}, item-list hits {}, session lists merged {}",
        first.stats.scans as f64 / first.records.max(1) as f64,
        s.scans as f64 / records.max(1) as f64,
        pct(s.customer_hits, s.customer_hits + s.customer_misses),
        pct(s.item_hits, s.item_hits + s.item_misses),
        pct(s.similar_merged, s.similar_merged + s.similar_fallbacks),
    )
}

/// Results of one catalogue's runs, printed as a table.
struct Section {
    rows: Vec<(String, [f64; 3], Vec<Vec<BatchRun>>)>,
}

impl Section {
    fn print(&self, batches: &[Batch], python: &str, violations: &mut Vec<String>) {
        let n1 = batches.iter().filter(|b| b.label == "1MB").count();
        let r1 = batches[0].event.records.len();
        let r3: usize = batches
            .iter()
            .filter(|b| b.label == "3MB")
            .map(|b| b.event.records.len())
            .sum::<usize>()
            / 2;
        println!();
        println!(
            "| handler | batch 1, cold ({r1} records) Ok rec/s | 1 MB steady (batches 2-{n1}) Ok rec/s | 3 MB (2 batches, ~{r3} records) Ok rec/s | records | Ok | failed | dropped | response full |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (name, r, passes) in &self.rows {
            let all: Vec<&BatchRun> = passes.iter().flatten().collect();
            let sum = |f: fn(&BatchRun) -> usize| all.iter().map(|r| f(r)).sum::<usize>();
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
                r[0],
                r[1],
                r[2],
                sum(|r| r.records),
                sum(|r| r.ok),
                sum(|r| r.failed),
                sum(|r| r.dropped),
                sum(|r| r.response_full)
            );
            for (p, pass) in passes.iter().enumerate() {
                for (b, run) in pass.iter().enumerate() {
                    if run.not_ok() > 0 {
                        violations.push(format!(
                            "{name}: pass {} batch {} ({}): {} of {} records not Ok ({} failed, {} dropped, {} response full)",
                            p + 1,
                            b + 1,
                            batches[b].label,
                            run.not_ok(),
                            run.records,
                            run.failed,
                            run.dropped,
                            run.response_full
                        ));
                    }
                }
            }
        }
        if let Some((_, py, _)) = self.rows.iter().find(|(n, _, _)| n == python) {
            for (name, r, _) in self.rows.iter().filter(|(n, _, _)| n != python) {
                println!(
                    "| ratio {name} / {python} | {:.1}x | {:.1}x | {:.1}x | | | | | |",
                    r[0] / py[0],
                    r[1] / py[1],
                    r[2] / py[2]
                );
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// Recall

/// Decoded `recommended_items` and `similar_items` ids of each Ok record, by record id.
fn lists(responses: &[FirehoseResponse]) -> HashMap<String, [Vec<String>; 2]> {
    let mut out = HashMap::new();
    for r in responses.iter().flat_map(|r| &r.records) {
        if r.result != FirehoseResult::Ok {
            continue;
        }
        let Ok(bytes) = BASE64.decode(&r.data) else {
            continue;
        };
        // Per-record gzip member (the default record encoding) or a plain line.
        let line = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = Vec::new();
            if flate2::read::MultiGzDecoder::new(bytes.as_slice())
                .read_to_end(&mut s)
                .is_err()
            {
                continue;
            }
            s
        } else {
            bytes
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else {
            continue;
        };
        let ids = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        out.insert(
            r.record_id.clone(),
            [ids("recommended_items"), ids("similar_items")],
        );
    }
    out
}

/// recall@10 of `got` against `truth` for each list kind: (hits, truth size, records).
fn recall(
    got: &HashMap<String, [Vec<String>; 2]>,
    truth: &HashMap<String, [Vec<String>; 2]>,
) -> [(usize, usize); 2] {
    let mut out = [(0, 0); 2];
    for (id, t) in truth {
        let g = got.get(id);
        for k in 0..2 {
            out[k].1 += t[k].len();
            if let Some(g) = g {
                out[k].0 += t[k].iter().filter(|i| g[k].contains(i)).count();
            }
        }
    }
    out
}

// ----------------------------------------------------------------------------------------
// Concurrency

struct CurvePoint {
    n: usize,
    batches: usize,
    records: usize,
    ok: usize,
    wall: f64,
    p50: f64,
    p95: f64,
}

async fn curve_point(
    url: &str,
    model: &Arc<ModelArtifact>,
    events: &[StreamEvent],
    n: usize,
) -> Result<CurvePoint, Error> {
    // Each instance gets whole sessions (Kinesis shards by partition key), 1 MB batches.
    let mut shards: Vec<Vec<FirehoseEvent>> = Vec::new();
    for shard in 0..n {
        let mut batches = Vec::new();
        let mut current = Vec::new();
        let mut bytes = 0;
        for e in events.iter().filter(|e| e.session as usize % n == shard) {
            bytes += e.data.len();
            current.push(StreamEvent {
                session: e.session,
                record_id: e.record_id.clone(),
                data: e.data.clone(),
            });
            if bytes >= MB {
                batches.push(firehose(std::mem::take(&mut current)));
                bytes = 0;
            }
        }
        if !current.is_empty() {
            batches.push(firehose(current));
        }
        shards.push(batches);
    }
    let mode = Mode {
        name: "pgvector",
        exact_knn_max_items: 0,
        knn_cache_items: None,
        memory_index_max_mb: Some(0),
    };
    let mut handlers = Vec::new();
    for _ in 0..n {
        handlers.push(handler(url, model, mode).await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (t, shard) in handlers.into_iter().zip(shards) {
        tasks.spawn(async move {
            let mut runs = Vec::new();
            for event in shard {
                runs.push(answer(&t, &event).await?.0);
            }
            drop(t);
            Ok::<_, Error>(runs)
        });
    }
    let mut runs = Vec::new();
    while let Some(r) = tasks.join_next().await {
        runs.extend(r??);
    }
    let wall = started.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = runs.iter().map(|r| r.secs).collect();
    lat.sort_by(f64::total_cmp);
    let at = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize] * 1e3;
    Ok(CurvePoint {
        n,
        batches: runs.len(),
        records: runs.iter().map(|r| r.records).sum(),
        ok: runs.iter().map(|r| r.ok).sum(),
        wall,
        p50: at(0.5),
        p95: at(0.95),
    })
}

// ----------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Error> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, pg_url] = raw.as_slice()
        && flag == "--crossover"
    {
        return crossover(pg_url, &mut ChaCha8Rng::seed_from_u64(11)).await;
    }
    let args = parse_args(&raw)?;
    progress("start");
    let ef_search = StoreOptions::for_lambda().ef_search;
    let defaults = TransformOptions::default();
    let mut violations = Vec::new();
    println!(
        "settings: k = {}, hnsw.ef_search = {ef_search} (Rust pool and Python), Lambda pool per handler, k-NN cache default {} item vectors, exact in memory up to {} items, larger catalogues in an in-memory replica up to {} MiB at recall target {}; Rust: {} passes per mode (new handler each), Python: {} pass(es); big catalogue: {} items (BENCH_STREAMING_ITEMS)",
        defaults.knn_k,
        defaults.knn_cache_items,
        DEFAULT_EXACT_KNN_MAX_ITEMS,
        defaults.memory_index_max_mb,
        defaults.knn_recall_target,
        args.passes,
        args.python_passes,
        args.items
    );

    // --- small catalogue: trained model ---
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let rows = snapshot(&mut rng);
    let started = Instant::now();
    let data = training_data(&rows, "bench")?;
    let small = fit(
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
        small.dim()
    );
    let model_json = small.to_json_vec()?;
    std::fs::write(args.out.join("model.json"), &model_json)?;
    let parse = (0..5)
        .map(|_| {
            let t = Instant::now();
            ModelArtifact::from_json_slice(&model_json).map(|_| t.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .min()
        .unwrap_or_default();
    println!(
        "model.json {} bytes: parse + index {:.2} ms",
        model_json.len(),
        parse.as_secs_f64() * 1e3
    );
    {
        let store = VectorStore::connect(&args.small_db, StoreOptions::for_cli()).await?;
        let items = embeddings_csv(&item_embeddings(&small, &rows));
        let users: Vec<(String, Vec<f32>)> = user_embeddings(&small, &rows)
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
        store.pool().close().await;
    }
    let small_params = GenParams {
        customers: SMALL_CUSTOMERS as usize,
        first_customer: 100,
        customer_s: 1.0,
        unknown_share: 0.1,
        items: SMALL_PRODUCTS,
        cluster_size: 50,
        item_s: 1.0,
        open_sessions: 2_000,
        max_events: 10,
        review_p: 0.15,
        neighbour_p: 0.55,
        window: 8,
    };
    let mut stream = SessionStream::new(small_params.clone(), small_product, 21);
    let small_batches = sequence(&mut stream, 4, &args.out, "small")?;
    println!();
    println!(
        "## small catalogue: {SMALL_PRODUCTS} products x {} dims (trained model, 2,000 customers)",
        small.dim()
    );
    println!("{}", small_params.describe());
    let mut section = Section { rows: Vec::new() };
    for mode in [
        Mode {
            name: "rust exact (in memory)",
            exact_knn_max_items: DEFAULT_EXACT_KNN_MAX_ITEMS,
            knn_cache_items: None,
            memory_index_max_mb: Some(0),
        },
        Mode {
            name: "rust pgvector",
            exact_knn_max_items: 0,
            knn_cache_items: None,
            memory_index_max_mb: Some(0),
        },
    ] {
        let (passes, _) =
            run_rust(&args.small_db, &small, mode, &small_batches, args.passes).await?;
        if mode.exact_knn_max_items == 0 {
            println!(
                "{}: {}",
                mode.name,
                cache_line(passes.last().map_or(&[][..], |p| p))
            );
        }
        section
            .rows
            .push((mode.name.into(), rates(&passes, &small_batches), passes));
    }
    let py = run_python(&args, &args.small_db, ef_search, &small_batches)?;
    section
        .rows
        .push(("python".into(), rates(&py, &small_batches), py));
    section.print(&small_batches, "python", &mut violations);

    // --- big catalogue ---
    if let (Some(big_db), true) = (&args.big_db, args.items > 0) {
        progress("big catalogue: generating and loading");
        let big = load_big(big_db, args.items, &small, &args.out).await?;
        let clusters = BIG_CLUSTERS.min(args.items);
        let params = GenParams {
            customers: BIG_CUSTOMERS,
            first_customer: 1,
            customer_s: 1.0,
            unknown_share: 0.1,
            items: args.items,
            cluster_size: args.items.div_ceil(clusters),
            item_s: 1.0,
            open_sessions: 3_000,
            max_events: 10,
            review_p: 0.15,
            neighbour_p: 0.55,
            window: 50,
        };
        let mut stream = SessionStream::new(params.clone(), big_product, 31);
        let batches = sequence(&mut stream, args.batches, &args.out, "big")?;
        println!();
        println!(
            "## big catalogue: {} items x {} dims, pgvector HNSW (the loader's index)",
            args.items,
            big.dim()
        );
        println!("{}", params.describe());
        let modes = [
            Mode {
                name: "rust replica (in memory, from pgvector)",
                exact_knn_max_items: DEFAULT_EXACT_KNN_MAX_ITEMS,
                knn_cache_items: None,
                memory_index_max_mb: None,
            },
            Mode {
                name: "rust pgvector HNSW (default caches)",
                exact_knn_max_items: 0,
                knn_cache_items: None,
                memory_index_max_mb: Some(0),
            },
        ];
        let mut section = Section { rows: Vec::new() };
        let mut answers = Vec::new();
        for mode in modes {
            let (passes, last) = run_rust(big_db, &big, mode, &batches, args.passes).await?;
            if mode.memory_index_max_mb.is_some() {
                println!(
                    "{}: {}",
                    mode.name,
                    cache_line(passes.last().map_or(&[][..], |p| p))
                );
            }
            section
                .rows
                .push((mode.name.into(), rates(&passes, &batches), passes));
            answers.push((mode.name, lists(&last)));
        }
        let py = run_python(&args, big_db, ef_search, &batches)?;
        section
            .rows
            .push(("python".into(), rates(&py, &batches), py));
        section.print(&batches, "python", &mut violations);

        // Recall@10 on records sampled from the steady 1 MB batches.
        let steady: Vec<&FirehoseRecord> = batches[1..args.batches]
            .iter()
            .flat_map(|b| &b.event.records)
            .collect();
        let stride = (steady.len() / RECALL_RECORDS).max(1);
        let sample = FirehoseEvent {
            records: steady
                .iter()
                .step_by(stride)
                .map(|r| (*r).clone())
                .collect(),
            ..batches[0].event.clone()
        };
        progress("recall: exact search");
        let started = Instant::now();
        let exact = handler(
            big_db,
            &big,
            Mode {
                name: "exact",
                exact_knn_max_items: usize::MAX,
                knn_cache_items: Some(0),
                memory_index_max_mb: Some(0),
            },
        )
        .await?;
        let truth = lists(&[exact.transform(sample.clone()).await?.response]);
        drop(exact);
        println!();
        println!(
            "recall@10 against exact search (brute force over the same {} vectors, ExactIndex) on {} records sampled from batches 2-{} ({:.0} s):",
            args.items,
            truth.len(),
            args.batches,
            started.elapsed().as_secs_f64()
        );
        for (name, got) in &answers {
            let [rec, sim] = recall(got, &truth);
            println!(
                "  {name}: recommended_items {:.4} ({} of {}), similar_items {:.4} ({} of {})",
                rec.0 as f64 / rec.1.max(1) as f64,
                rec.0,
                rec.1,
                sim.0 as f64 / sim.1.max(1) as f64,
                sim.0,
                sim.1
            );
        }

        // Concurrency curve.
        let mut stream = SessionStream::new(params.clone(), big_product, 41);
        let mut events = Vec::new();
        let mut bytes = 0;
        while bytes < args.curve_batches * MB {
            let e = stream.next_event();
            bytes += e.data.len();
            events.push(e);
        }
        println!();
        println!(
            "concurrency: N handler instances (own Transformer + Lambda pool of {} connections each, default caches, cold at start) against the one PostgreSQL, {} events ({} MB) split by session, 1 MB batches; 2 cores shared by handlers and PostgreSQL",
            StoreOptions::for_lambda().max_connections,
            events.len(),
            args.curve_batches
        );
        println!(
            "| N | batches | records | Ok | wall s | aggregate Ok rec/s | batch p50 ms | batch p95 ms |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        let big = Arc::new(big);
        for &n in &args.curve {
            progress(&format!("concurrency: N = {n}"));
            let p = curve_point(big_db, &big, &events, n).await?;
            if p.ok != p.records {
                violations.push(format!(
                    "concurrency N = {}: {} of {} records not Ok",
                    p.n,
                    p.records - p.ok,
                    p.records
                ));
            }
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} |",
                p.n,
                p.batches,
                p.records,
                p.ok,
                p.wall,
                p.ok as f64 / p.wall,
                p.p50,
                p.p95
            );
        }
    } else {
        println!();
        println!("big catalogue skipped (BENCH_STREAMING_ITEMS = 0)");
    }

    if !violations.is_empty() {
        println!();
        for v in &violations {
            println!("FAIL {v}");
        }
        return Err(format!(
            "{} batch(es) of valid events came back with records not Ok (listed above)",
            violations.len()
        )
        .into());
    }
    Ok(())
}

/// Where exact in-memory search stops paying: the k-NN of a 1 MB batch's worth of queries
/// (5,400, no exclusions) over catalogues of growing size, by HNSW (one batched statement,
/// the Lambda's options) and by brute force in memory. Each size is loaded as a new version.
async fn crossover(pg_url: &str, rng: &mut ChaCha8Rng) -> Result<(), Error> {
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
    println!();
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
        let mut hnsw: Vec<Duration> = Vec::new();
        let mut exact: Vec<Duration> = Vec::new();
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
