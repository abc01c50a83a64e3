//! Vector-store benchmark (run by bench/vector-store/run.sh, release build):
//! load rate of binary COPY (the loader) vs text `\copy` (psql), HNSW build time, recall@10
//! against exact search and single-query latency at several ef_search, and batched queries of
//! 1/10/100/500 vectors in one round trip vs the same number of single queries.
//!
//! Usage: vector_store_bench ITEMS DIM   (RECO_PG_URL: server URL; a database is created and dropped)

use std::io::Write;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_vector_loader::{EmbeddingFile, EmbeddingSource, Loader};
use reco_vector_store::{DEFAULT_KNN_PARALLELISM, KnnRequest, StoreOptions, VectorStore};
use sqlx::Connection;

/// Queries used for recall and latency.
const QUERIES: usize = 200;
/// Cluster count of the generated embeddings (trained embeddings are clustered, not uniform).
const CLUSTERS: usize = 1000;
/// Users in the generated user file (the loader needs one; not measured).
const USERS: usize = 1000;
const K: usize = 10;

fn vectors(rng: &mut ChaCha8Rng, centres: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let c = &centres[rng.random_range(0..centres.len())];
            c.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect()
        })
        .collect()
}

fn literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", parts.join(","))
}

fn normalize(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let items: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dim: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(32);
    let server = std::env::var("RECO_PG_URL")?;
    let (base, _) = server
        .rsplit_once('/')
        .ok_or("RECO_PG_URL has no database")?;
    let name = format!("reco_bench_vs_{items}_{dim}");
    let url = format!("{base}/{name}");
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "== {items} items x {dim} dims: generating (seeded) into {}",
        dir.display()
    );

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let item_vectors = vectors(&mut rng, &centres, items);
    let queries = vectors(&mut rng, &centres, QUERIES);
    {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(dir.join("item_embeddings.csv"))?);
        writeln!(f, "id,embedding")?;
        for (i, v) in item_vectors.iter().enumerate() {
            writeln!(f, "P{i:07},\"{}\"", literal(v))?;
        }
        let mut u =
            std::io::BufWriter::new(std::fs::File::create(dir.join("user_embeddings.csv"))?);
        writeln!(u, "id,embedding")?;
        for (i, v) in vectors(&mut rng, &centres, USERS).iter().enumerate() {
            writeln!(u, "{i},\"{}\"", literal(v))?;
        }
    }
    let csv_bytes = std::fs::metadata(dir.join("item_embeddings.csv"))?.len();

    let mut admin = sqlx::PgConnection::connect(&server).await?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await?;
    }

    // Text load: psql \copy of the same CSV into a table of the same shape, no index.
    eprintln!("== text \\copy");
    let status = std::process::Command::new("psql")
        .arg(&url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE text_load (id varchar NOT NULL, embedding vector({dim}) NOT NULL)"
        ))
        .status()?;
    assert!(status.success());
    let started = Instant::now();
    let status = std::process::Command::new("psql")
        .arg(&url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "\\copy text_load FROM '{}' WITH (FORMAT csv, HEADER true)",
            dir.join("item_embeddings.csv").display()
        ))
        .status()?;
    assert!(status.success());
    let text_secs = started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE text_load")
        .execute(&mut sqlx::PgConnection::connect(&url).await?)
        .await?;

    // Binary load: the loader (CSV parse + binary COPY + keys + HNSW + swap).
    eprintln!("== reco loader (binary COPY, HNSW)");
    let store = VectorStore::connect(&url, StoreOptions::for_cli()).await?;
    let open = |file: &str| -> Result<_, std::io::Error> {
        Ok(tokio::io::BufReader::with_capacity(
            1 << 20,
            tokio::fs::File::from_std(std::fs::File::open(dir.join(file))?),
        ))
    };
    let report = Loader::new(&store)
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
    let binary_secs = report.copy_items.as_secs_f64();

    println!(
        "## vector store: {items} items x {dim} dims ({} MB CSV)",
        csv_bytes / 1_000_000
    );
    println!();
    println!("| load | seconds | rows/s |");
    println!("|---|---:|---:|");
    println!(
        "| text `\\copy` (psql, CSV) | {text_secs:.1} | {:.0} |",
        items as f64 / text_secs
    );
    println!(
        "| binary COPY (reco loader, incl. CSV parse) | {binary_secs:.1} | {:.0} |",
        items as f64 / binary_secs
    );
    println!("| binary / text | | {:.2}x |", text_secs / binary_secs);
    println!();
    println!(
        "primary keys {:.1} s; HNSW build (m 16, ef_construction 64) {:.1} s; swap {:.3} s",
        report.primary_keys.as_secs_f64(),
        report.hnsw_index.as_secs_f64(),
        report.swap.as_secs_f64()
    );
    println!();

    // Exact top-10 by brute force (cosine = dot of normalised vectors).
    eprintln!("== exact search ({QUERIES} queries, brute force)");
    let normalised: Vec<Vec<f32>> = item_vectors.iter().map(|v| normalize(v)).collect();
    drop(item_vectors);
    let exact: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            let q = normalize(q);
            let mut scored: Vec<(f32, usize)> = normalised
                .iter()
                .enumerate()
                .map(|(i, v)| (q.iter().zip(v).map(|(a, b)| a * b).sum::<f32>(), i))
                .collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(K);
            scored.iter().map(|(_, i)| format!("P{i:07}")).collect()
        })
        .collect();
    drop(normalised);

    println!("| ef_search | recall@10 | p50 ms | p99 ms (single query, k = 10) |");
    println!("|---:|---:|---:|---:|");
    for ef in [40_u32, 100, 200] {
        let mut options = StoreOptions::for_cli();
        options.ef_search = ef;
        let s = VectorStore::connect(&url, options).await?;
        // Warm-up: pages of the index into shared buffers / OS cache.
        for q in queries.iter().take(20) {
            s.knn_batch(&[request(q)], K).await?;
        }
        let mut latencies = Vec::with_capacity(QUERIES);
        let mut hits = 0;
        for (q, truth) in queries.iter().zip(&exact) {
            let started = Instant::now();
            let got = s.knn_batch(&[request(q)], K).await?;
            latencies.push(started.elapsed());
            hits += got[0].iter().filter(|r| truth.contains(&r.id)).count();
        }
        latencies.sort();
        println!(
            "| {ef} | {:.3} | {:.2} | {:.2} |",
            hits as f64 / (QUERIES * K) as f64,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        s.pool().close().await;
    }
    println!();

    println!(
        "| vectors | one statement, ms | split over {DEFAULT_KNN_PARALLELISM} connections (sent at once), ms | same number of single queries, ms | one statement vs singles | split vs singles |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    // The Lambda's pool and ef_search; `one` never splits a batch, `s` does from 64 requests.
    let s = VectorStore::connect(&url, StoreOptions::for_lambda()).await?;
    let mut one_options = StoreOptions::for_lambda();
    one_options.knn_parallelism = 1;
    let one = VectorStore::connect(&url, one_options).await?;
    for n in [1_usize, 10, 100, 500] {
        let batch: Vec<KnnRequest> = (0..n).map(|i| request(&queries[i % QUERIES])).collect();
        let mut one_times = Vec::new();
        let mut split_times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let got = one.knn_batch(&batch, K).await?;
            one_times.push(started.elapsed());
            assert!(got.iter().all(|r| r.len() == K));
            let started = Instant::now();
            let split = s.knn_batch(&batch, K).await?;
            split_times.push(started.elapsed());
            assert_eq!(split, got);
        }
        one_times.sort();
        split_times.sort();
        let started = Instant::now();
        for r in &batch {
            one.knn_batch(std::slice::from_ref(r), K).await?;
        }
        let singles = started.elapsed().as_secs_f64() * 1000.0;
        let one_median = percentile(&one_times, 0.5);
        let split_median = percentile(&split_times, 0.5);
        println!(
            "| {n} | {one_median:.1} | {split_median:.1} | {singles:.1} | {:.2}x | {:.2}x |",
            singles / one_median,
            singles / split_median
        );
    }
    one.pool().close().await;
    s.pool().close().await;
    store.pool().close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    std::fs::remove_dir_all(&dir).ok();
    println!();
    Ok(())
}

fn request(q: &[f32]) -> KnnRequest {
    KnnRequest::ByVector {
        vector: q.to_vec(),
        exclude: Vec::new(),
    }
}
