//! `reco produce`: realistic click sessions for customers and products of the source
//! database (plus a share of unknown customers) -> the Kinesis click stream.

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reco_config::{AwsArgs, MysqlArgs, required, var};
use reco_firehose_local::kinesis_client;
use reco_firehose_local::retry::{Retryable as _, backoff};
use sqlx::Row;

/// Most records per PutRecords call (Kinesis API limit).
const MAX_RECORDS_PER_PUT: usize = 500;
/// Most bytes per PutRecords call (Kinesis API limit: 5 MiB including partition keys).
const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;
/// PutRecords attempts for the entries of one batch Kinesis refuses (throttling) before
/// giving up.
const MAX_PUT_ATTEMPTS: u32 = 10;
/// Pause after the first partial failure; doubled after each later one, with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Most items one generated session browses.
const MAX_SESSION_ITEMS: usize = 6;
/// Unknown customers are numbered from here (above any classicmodels / generated number).
const UNKNOWN_CUSTOMER_BASE: i64 = 9_000_000;

/// Arguments of `reco produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Number of events to put.
    #[arg(long)]
    pub events: u64,
    /// Events per second; default: as fast as Kinesis accepts.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Share of events from customers the source database does not know (0..=1).
    #[arg(long, default_value_t = 0.1)]
    pub unknown_share: f64,
    /// Seed of the session generator (same seed, same sessions).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Kinesis stream of click events.
    #[arg(long, env = var::RECO_CLICK_STREAM, value_name = "STREAM")]
    pub click_stream: Option<String>,
    /// The source database (customers and products of the sessions).
    #[command(flatten)]
    pub mysql: MysqlArgs,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// A customer of the source database.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// `customerNumber`.
    pub number: i64,
    /// `city`.
    pub city: Option<String>,
    /// `country`.
    pub country: Option<String>,
    /// `creditLimit`.
    pub credit_limit: Option<f64>,
}

/// One generated click event (the Kinesis record's JSON) for event number `index`.
pub fn session_event(
    rng: &mut impl Rng,
    customers: &[Customer],
    products: &[String],
    unknown_share: f64,
    seed: u64,
    index: u64,
) -> serde_json::Value {
    let known = &customers[rng.random_range(0..customers.len())];
    let customer = if rng.random_bool(unknown_share) {
        // An unknown customer living where a known one lives: features the tower can use.
        Customer {
            number: UNKNOWN_CUSTOMER_BASE + rng.random_range(0..1_000_000),
            credit_limit: known
                .credit_limit
                .map(|c| (c * rng.random_range(0.5..1.5)).round()),
            ..known.clone()
        }
    } else {
        known.clone()
    };
    let items = rng.random_range(0..=MAX_SESSION_ITEMS.min(products.len()));
    // Sessions browse neighbouring catalogue entries (same product line prefix) more often
    // than random ones, the way shoppers move between similar items.
    let start = rng.random_range(0..products.len());
    let mut browse = Vec::with_capacity(items);
    for step in 0..items {
        let position = if rng.random_bool(0.7) {
            (start + step) % products.len()
        } else {
            rng.random_range(0..products.len())
        };
        browse.push(serde_json::json!({
            "product_code": products[position],
            "quantity": rng.random_range(1..=5),
            "in_shopping_cart": rng.random_bool(0.3),
        }));
    }
    serde_json::json!({
        "session_id": format!("sess-{seed}-{index}"),
        "customer_number": customer.number,
        "city": customer.city,
        "country": customer.country,
        "credit_limit": customer.credit_limit,
        "browse_history": browse,
        "event_id": format!("evt-{seed}-{index}"),
        "event_time": reco_domain::recommendation::UtcDateTime::now().rfc3339(),
    })
}

async fn load_source(
    options: sqlx::mysql::MySqlConnectOptions,
) -> anyhow::Result<(Vec<Customer>, Vec<String>)> {
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| {
            format!(
                "connecting to the source database ({} or {})",
                var::RECO_MYSQL_URL,
                var::RECO_MYSQL_SECRET_ARN
            )
        })?;
    let customers = sqlx::query(
        "SELECT customerNumber, city, country, CAST(creditLimit AS DOUBLE) AS creditLimit \
         FROM customers ORDER BY customerNumber",
    )
    .fetch_all(&pool)
    .await
    .context("reading customers")?
    .iter()
    .map(|row| -> Result<Customer, sqlx::Error> {
        Ok(Customer {
            number: i64::from(row.try_get::<i32, _>("customerNumber")?),
            city: row.try_get("city")?,
            country: row.try_get("country")?,
            credit_limit: row.try_get("creditLimit")?,
        })
    })
    .collect::<Result<Vec<_>, _>>()
    .context("decoding customers")?;
    let products: Vec<String> =
        sqlx::query_scalar("SELECT productCode FROM products ORDER BY productCode")
            .fetch_all(&pool)
            .await
            .context("reading products")?;
    pool.close().await;
    if customers.is_empty() || products.is_empty() {
        bail!(
            "the source database has {} customers and {} products: load it first (reco source load-classicmodels FILE)",
            customers.len(),
            products.len()
        );
    }
    Ok((customers, products))
}

/// Runs `reco produce`.
pub async fn run(args: ProduceArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.unknown_share) {
        bail!(
            "--unknown-share must be between 0 and 1, got {}",
            args.unknown_share
        );
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be a positive number of events per second");
    }
    let stream = required(var::RECO_CLICK_STREAM, &args.click_stream)?.to_owned();
    let source = args.mysql.target()?;
    let sdk = reco_aws::sdk_config(&args.aws).await;
    let (customers, products) =
        load_source(reco_etl::source_db::connect_options(&source, &sdk).await?).await?;
    tracing::info!(
        events = args.events,
        stream,
        customers = customers.len(),
        products = products.len(),
        unknown_share = args.unknown_share,
        "producing click sessions"
    );
    let kinesis = kinesis_client(&sdk);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let batch_size = match args.rate {
        Some(rate) => (rate.ceil() as usize).clamp(1, MAX_RECORDS_PER_PUT),
        None => MAX_RECORDS_PER_PUT,
    };
    let started = Instant::now();
    let mut put = 0u64;
    let mut retried = 0u64;
    let progress = crate::progress::bar(Some(args.events), "putting events");
    while put < args.events {
        let mut batch = Vec::with_capacity(batch_size);
        let mut bytes = 0usize;
        while batch.len() < batch_size && put + (batch.len() as u64) < args.events {
            let index = put + batch.len() as u64;
            let event = session_event(
                &mut rng,
                &customers,
                &products,
                args.unknown_share,
                args.seed,
                index,
            );
            let data = serde_json::to_vec(&event)?;
            let key = event["customer_number"].to_string();
            if bytes + data.len() + key.len() > MAX_BYTES_PER_PUT {
                break;
            }
            bytes += data.len() + key.len();
            batch.push(
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(data))
                    .partition_key(key)
                    .build()?,
            );
        }
        let count = batch.len() as u64;
        retried += put_all(&kinesis, &stream, batch).await?;
        put += count;
        if let Some(rate) = args.rate {
            let due = Duration::from_secs_f64(put as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        progress.inc(count);
    }
    progress.finish_and_clear();
    eprintln!(
        "reco produce: put {put} events to {stream} in {:.1}s ({retried} entries retried after throttling)",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Why a batch could not be put.
#[derive(Debug)]
enum PutError {
    /// The call itself failed (after the SDK's own retries).
    Call(anyhow::Error),
    /// Kinesis refused `count` entries (`code`: throttling, internal failure).
    Refused { count: usize, code: String },
}

/// Puts every entry, retrying the ones Kinesis refuses with exponential back-off and jitter
/// ([`MAX_PUT_ATTEMPTS`] calls at most); returns how many retries were needed.
async fn put_all(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    entries: Vec<PutRecordsRequestEntry>,
) -> anyhow::Result<u64> {
    // The entries still to put: all of them, then the ones refused last time.
    let pending = Mutex::new(entries);
    let retried = Mutex::new(0u64);
    let (pending_ref, retried_ref) = (&pending, &retried);
    let attempt = || async move {
        let entries = pending_ref
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let output = kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries.clone()))
            .send()
            .await
            .with_context(|| format!("PutRecords to {stream}"))
            .map_err(PutError::Call)?;
        if output.failed_record_count().unwrap_or(0) == 0 {
            return Ok(());
        }
        // Entries come back in request order; keep the ones with an error code.
        let code = output
            .records()
            .iter()
            .find_map(|r| r.error_code())
            .unwrap_or("unknown")
            .to_owned();
        let refused: Vec<PutRecordsRequestEntry> = entries
            .into_iter()
            .zip(output.records())
            .filter(|(_, result)| result.error_code().is_some())
            .map(|(entry, _)| entry)
            .collect();
        let count = refused.len();
        *retried_ref.lock().unwrap_or_else(PoisonError::into_inner) += count as u64;
        *pending_ref.lock().unwrap_or_else(PoisonError::into_inner) = refused;
        Err(PutError::Refused { count, code })
    };
    let result = attempt
        .retry(backoff(FIRST_BACKOFF, MAX_PUT_ATTEMPTS))
        .when(|e| matches!(e, PutError::Refused { .. }))
        .notify(|e, pause| {
            if let PutError::Refused { count, code } = e {
                tracing::warn!(
                    stream,
                    entries = count,
                    code,
                    ?pause,
                    "entries refused, retrying"
                );
            }
        })
        .await;
    match result {
        Ok(()) => Ok(retried.into_inner().unwrap_or_else(PoisonError::into_inner)),
        Err(PutError::Call(e)) => Err(e),
        Err(PutError::Refused { count, code }) => bail!(
            "{count} entries still refused by {stream} ({code}) after {MAX_PUT_ATTEMPTS} attempts: the stream is throttled, lower --rate or add shards"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::event::ClickEvent;

    fn source() -> (Vec<Customer>, Vec<String>) {
        let customers = vec![
            Customer {
                number: 103,
                city: Some("Nantes".into()),
                country: Some("France".into()),
                credit_limit: Some(21000.0),
            },
            Customer {
                number: 112,
                city: Some("Las Vegas".into()),
                country: Some("USA".into()),
                credit_limit: Some(71800.0),
            },
        ];
        let products = (0..20).map(|i| format!("S10_{i:04}")).collect();
        (customers, products)
    }

    #[test]
    fn sessions_are_valid_events_of_known_products_and_deterministic() {
        let (customers, products) = source();
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        let mut unknown = 0;
        for i in 0..500 {
            let event = session_event(&mut a, &customers, &products, 0.2, 7, i);
            let again = session_event(&mut b, &customers, &products, 0.2, 7, i);
            assert_eq!(event["browse_history"], again["browse_history"]);
            let parsed = ClickEvent::from_json_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
            assert!(
                parsed
                    .browse_history
                    .iter()
                    .all(|b| products.contains(&b.product_code))
            );
            if parsed.customer_number >= UNKNOWN_CUSTOMER_BASE {
                unknown += 1;
                assert!(parsed.country.is_some());
            } else {
                assert!(customers.iter().any(|c| c.number == parsed.customer_number));
            }
        }
        // 20% of 500 = 100, binomial spread well inside 60..140.
        assert!((60..140).contains(&unknown), "{unknown}");
    }
}
