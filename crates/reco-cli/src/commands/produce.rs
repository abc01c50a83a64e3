//! `reco produce`: realistic click sessions for customers and products of the source
//! database (plus a share of unknown customers) -> the Kinesis click stream.
//!
//! Events are a mix of types ([`EventMix`], `--mix`): mostly views, some add-to-cart, fewer
//! purchases, impressions of recommendations and clicks on some of them. Impressions and
//! clicks copy a real recommendation: the customer's latest document in the recommendations
//! bucket (its `recommendation_id`, items, experiment and variant); a share of carts and
//! purchases (`--recommended-share`) is of recommended items, so attribution has something to
//! find. Without any document, impressions and clicks are produced as views (said at start).
//! `--views-only` produces exactly the version 1 sessions of earlier releases.

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
use reco_domain::event::EventType;
use reco_domain::serving::{LATEST_PREFIX, LatestDocument};
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
/// Most latest documents read from the recommendations bucket for impressions and clicks.
const MAX_DOCUMENTS: usize = 2_000;
/// Default `--mix`.
const DEFAULT_MIX: &str =
    "view=0.70,add_to_cart=0.10,purchase=0.04,rec_impression=0.12,rec_click=0.04";

/// Shares of each event type in the produced stream (they sum to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventMix {
    /// Share per type, in [`EventType::ALL`] order.
    pub shares: [f64; 5],
}

impl EventMix {
    /// Only views.
    pub const VIEWS_ONLY: EventMix = EventMix {
        shares: [1.0, 0.0, 0.0, 0.0, 0.0],
    };

    /// Draws a type.
    pub fn draw(&self, rng: &mut impl Rng) -> EventType {
        let mut u: f64 = rng.random();
        for (kind, share) in EventType::ALL.into_iter().zip(self.shares) {
            if u < share {
                return kind;
            }
            u -= share;
        }
        EventType::View
    }

    /// The share of `kind`.
    pub fn share(&self, kind: EventType) -> f64 {
        EventType::ALL
            .into_iter()
            .zip(self.shares)
            .find_map(|(k, s)| (k == kind).then_some(s))
            .unwrap_or(0.0)
    }
}

impl std::str::FromStr for EventMix {
    type Err = String;
    /// `type=share,...`, e.g. `view=0.8,purchase=0.2`; types left out have share 0.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut shares = [0.0; 5];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not TYPE=SHARE"))?;
            let kind: EventType = name.trim().parse()?;
            let share: f64 = share
                .trim()
                .parse()
                .map_err(|_| format!("the share of {kind} is not a number"))?;
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("the share of {kind} must be between 0 and 1"));
            }
            let i = EventType::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            shares[i] = share;
        }
        let total: f64 = shares.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(format!("the shares add up to {total}, not 1"));
        }
        Ok(Self { shares })
    }
}

/// A recommendation a customer was shown: what impressions and clicks refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The customer of the document.
    pub customer_number: i64,
    /// The document's `provenance.recommendation_id`.
    pub recommendation_id: String,
    /// Recommended and similar product codes, best first.
    pub items: Vec<String>,
    /// `provenance.experiment`, when an experiment served it.
    pub experiment: Option<String>,
    /// `provenance.variant`.
    pub variant: Option<String>,
}

impl Shown {
    /// What a latest document shows (`None` when it recommends nothing).
    pub fn from_document(bytes: &[u8]) -> Option<Self> {
        let document = LatestDocument::from_json_slice(bytes).ok()?;
        // The experiment fields are read as plain strings from the JSON.
        let raw: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let label = |name: &str| {
            raw["provenance"][name]
                .as_str()
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        };
        let mut items: Vec<String> = Vec::new();
        for item in document
            .recommended
            .iter()
            .chain(&document.similar_to_session)
        {
            if !items.contains(&item.product_code) {
                items.push(item.product_code.clone());
            }
        }
        let customer_number = document.customer_number?;
        let recommendation_id = document.provenance.recommendation_id.clone();
        if items.is_empty() || recommendation_id.is_empty() {
            return None;
        }
        Some(Shown {
            customer_number,
            recommendation_id,
            items,
            experiment: label("experiment"),
            variant: label("variant"),
        })
    }
}

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
    /// Seed of the session generator (same seed and documents, same events).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Shares of the event types, `TYPE=SHARE,...` summing to 1 (types: view, add_to_cart,
    /// purchase, rec_impression, rec_click).
    #[arg(long, default_value = DEFAULT_MIX, conflicts_with = "views_only")]
    pub mix: EventMix,
    /// Only version 1 view sessions, as earlier releases produced (benchmarks).
    #[arg(long)]
    pub views_only: bool,
    /// Share of add-to-cart and purchase events on an item the customer was recommended
    /// (when the customer has a latest document).
    #[arg(long, default_value_t = 0.5)]
    pub recommended_share: f64,
    /// Recommendations bucket: latest documents give impressions and clicks their real
    /// recommendation ids, items and experiment.
    #[arg(long, env = var::RECO_RECS_BUCKET, value_name = "BUCKET")]
    pub recs_bucket: Option<String>,
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

/// One generated event of the mix for event number `index`: a view session as
/// [`session_event`], or a cart, purchase, impression or click. Impressions and clicks need a
/// shown recommendation (`shown`, one per customer with a document); without any, they are views.
#[allow(clippy::too_many_arguments)]
pub fn mixed_event(
    rng: &mut impl Rng,
    mix: &EventMix,
    customers: &[Customer],
    products: &[String],
    shown: &[Shown],
    unknown_share: f64,
    recommended_share: f64,
    seed: u64,
    index: u64,
) -> serde_json::Value {
    let kind = mix.draw(rng);
    let needs_shown = matches!(kind, EventType::RecImpression | EventType::RecClick);
    if kind == EventType::View || (needs_shown && shown.is_empty()) {
        return session_event(rng, customers, products, unknown_share, seed, index);
    }
    let mut event = session_event(rng, customers, products, unknown_share, seed, index);
    // The recommendation this customer saw, if any (impressions and clicks: someone's).
    let number = event["customer_number"].as_i64().unwrap_or_default();
    let seen = if needs_shown {
        shown
            .iter()
            .find(|s| s.customer_number == number)
            .or_else(|| shown.get(rng.random_range(0..shown.len())))
    } else {
        shown.iter().find(|s| s.customer_number == number)
    };
    let object = event.as_object_mut().expect("an event is an object");
    object.insert("event_type".into(), kind.as_str().into());
    if needs_shown {
        let seen = seen.expect("shown is not empty");
        // The customer who saw it; their features are the known customer's.
        if seen.customer_number != number
            && let Some(customer) = customers.iter().find(|c| c.number == seen.customer_number)
        {
            object.insert("customer_number".into(), customer.number.into());
            object.insert("city".into(), customer.city.clone().into());
            object.insert("country".into(), customer.country.clone().into());
            object.insert("credit_limit".into(), customer.credit_limit.into());
        } else if seen.customer_number != number {
            object.insert("customer_number".into(), seen.customer_number.into());
        }
        // Impressions and clicks favour the top of the list.
        let top = seen.items.len().min(3);
        let position = if rng.random_bool(0.7) {
            rng.random_range(0..top)
        } else {
            rng.random_range(0..seen.items.len())
        };
        object.insert("item".into(), seen.items[position].clone().into());
        object.insert(
            "recommendation_id".into(),
            seen.recommendation_id.clone().into(),
        );
        if let Some(experiment) = &seen.experiment {
            object.insert("experiment".into(), experiment.clone().into());
        }
        if let Some(variant) = &seen.variant {
            object.insert("variant".into(), variant.clone().into());
        }
    } else {
        // A cart or purchase: of a recommended item for a share of customers who have one,
        // else of the last item browsed (or any product).
        let recommended = seen
            .filter(|_| rng.random_bool(recommended_share))
            .map(|s| s.items[rng.random_range(0..s.items.len())].clone());
        let item = recommended.unwrap_or_else(|| {
            event["browse_history"]
                .as_array()
                .and_then(|h| h.last())
                .and_then(|b| b["product_code"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| products[rng.random_range(0..products.len())].clone())
        });
        let object = event.as_object_mut().expect("an event is an object");
        object.insert("item".into(), item.into());
    }
    event
}

/// The latest documents of the recommendations bucket (at most [`MAX_DOCUMENTS`], in key
/// order), as what impressions and clicks refer to; customers without one are left out.
async fn load_shown(bucket: &reco_aws::Bucket) -> anyhow::Result<Vec<Shown>> {
    let prefix = format!("{LATEST_PREFIX}customers/");
    let keys = match bucket.list(&prefix).await {
        Ok(keys) => keys,
        // No recommendations bucket (the streaming part is not deployed): nothing was shown.
        Err(e) if e.kind == reco_aws::storage::StorageErrorKind::NoBucket => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("listing {}", bucket.location(&prefix)));
        }
    };
    let mut shown = Vec::new();
    for key in keys.iter().take(MAX_DOCUMENTS) {
        let bytes = bucket
            .get(key)
            .await
            .with_context(|| format!("reading {}", bucket.location(key)))?;
        shown.extend(Shown::from_document(&bytes));
    }
    Ok(shown)
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
    if !(0.0..=1.0).contains(&args.recommended_share) {
        bail!(
            "--recommended-share must be between 0 and 1, got {}",
            args.recommended_share
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
    let mix = if args.views_only {
        EventMix::VIEWS_ONLY
    } else {
        args.mix
    };
    let needs_documents = mix.share(EventType::RecImpression) > 0.0
        || mix.share(EventType::RecClick) > 0.0
        || (args.recommended_share > 0.0
            && mix.share(EventType::AddToCart) + mix.share(EventType::Purchase) > 0.0);
    let shown = match (&args.recs_bucket, needs_documents) {
        (Some(name), true) => load_shown(&reco_aws::Bucket::s3(&args.aws, name)?).await?,
        _ => Vec::new(),
    };
    if !args.views_only {
        if shown.is_empty() {
            eprintln!(
                "reco produce: no latest documents in the recommendations bucket ({}, or it is not deployed): impressions and clicks are produced as views; run reco firehose-local once to have some",
                var::RECO_RECS_BUCKET
            );
        } else {
            tracing::info!(
                documents = shown.len(),
                "impressions and clicks refer to these latest documents"
            );
        }
    }
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
            let event = if args.views_only {
                session_event(
                    &mut rng,
                    &customers,
                    &products,
                    args.unknown_share,
                    args.seed,
                    index,
                )
            } else {
                mixed_event(
                    &mut rng,
                    &mix,
                    &customers,
                    &products,
                    &shown,
                    args.unknown_share,
                    args.recommended_share,
                    args.seed,
                    index,
                )
            };
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

    fn shown() -> Vec<Shown> {
        vec![Shown {
            customer_number: 103,
            recommendation_id: "0123456789abcdef0123456789abcdef".into(),
            items: vec!["S10_0001".into(), "S10_0002".into(), "S10_0003".into()],
            experiment: Some("towers-v2".into()),
            variant: Some("treatment".into()),
        }]
    }

    #[test]
    fn the_mix_is_deterministic_valid_and_has_its_shares() {
        let (customers, products) = source();
        let mix: EventMix = DEFAULT_MIX.parse().unwrap();
        let shown = shown();
        let generate = |seed: u64| -> Vec<serde_json::Value> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..4_000)
                .map(|i| {
                    let mut e = mixed_event(
                        &mut rng, &mix, &customers, &products, &shown, 0.1, 0.5, seed, i,
                    );
                    e.as_object_mut().unwrap().remove("event_time");
                    e
                })
                .collect()
        };
        let events = generate(11);
        assert_eq!(events, generate(11), "same seed, same events");
        assert_ne!(events, generate(12));
        let mut counts = std::collections::HashMap::new();
        let mut on_recommended = 0;
        for event in &events {
            let parsed = ClickEvent::from_json_slice(&serde_json::to_vec(event).unwrap()).unwrap();
            *counts.entry(parsed.event_type).or_insert(0usize) += 1;
            match parsed.event_type {
                EventType::RecImpression | EventType::RecClick => {
                    assert_eq!(parsed.customer_number, 103);
                    assert_eq!(
                        parsed.recommendation_id,
                        Some(shown[0].recommendation_id.clone())
                    );
                    assert_eq!(parsed.variant.as_deref(), Some("treatment"));
                    assert!(shown[0].items.contains(parsed.item.as_ref().unwrap()));
                }
                EventType::AddToCart | EventType::Purchase => {
                    let item = parsed.item.unwrap();
                    assert!(products.contains(&item), "{item}");
                    if parsed.customer_number == 103 && shown[0].items.contains(&item) {
                        on_recommended += 1;
                    }
                }
                EventType::View => assert_eq!(parsed.item, None),
            }
        }
        for kind in EventType::ALL {
            let expected = mix.share(kind) * 4_000.0;
            let got = counts.get(&kind).copied().unwrap_or(0) as f64;
            // Binomial spread: within 5 standard deviations.
            let sd = (expected * (1.0 - mix.share(kind))).sqrt();
            assert!(
                (got - expected).abs() <= 5.0 * sd + 1.0,
                "{kind}: {got} vs {expected}"
            );
        }
        assert!(
            on_recommended > 0,
            "some carts and purchases are of recommended items"
        );
    }

    #[test]
    fn without_documents_impressions_and_clicks_are_views_and_bad_mixes_are_refused() {
        let (customers, products) = source();
        let mix: EventMix = "rec_impression=0.5,rec_click=0.5".parse().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for i in 0..50 {
            let e = mixed_event(&mut rng, &mix, &customers, &products, &[], 0.0, 0.5, 1, i);
            assert!(e.get("event_type").is_none(), "{e}");
        }
        assert!(
            "view=0.5"
                .parse::<EventMix>()
                .unwrap_err()
                .contains("add up to 0.5")
        );
        assert!(
            "wish=1"
                .parse::<EventMix>()
                .unwrap_err()
                .contains("unknown event type")
        );
        assert!("view=2".parse::<EventMix>().is_err());
        assert_eq!("view=1".parse::<EventMix>().unwrap(), EventMix::VIEWS_ONLY);
    }

    #[test]
    fn the_flags_parse_with_the_default_mix() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            produce: ProduceArgs,
        }
        let cli = Cli::try_parse_from(["reco", "--events", "5"]).unwrap();
        assert_eq!(cli.produce.mix, DEFAULT_MIX.parse::<EventMix>().unwrap());
        assert!(!cli.produce.views_only);
        let cli = Cli::try_parse_from(["reco", "--events", "5", "--views-only"]).unwrap();
        assert!(cli.produce.views_only);
        let cli = Cli::try_parse_from(["reco", "--events", "5", "--mix", "view=0.5,purchase=0.5"]);
        assert_eq!(cli.unwrap().produce.mix.share(EventType::Purchase), 0.5);
        assert!(
            Cli::try_parse_from(["reco", "--events", "5", "--mix", "view=1", "--views-only"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["reco", "--events", "5", "--mix", "view=0.9"]).is_err());
    }

    #[test]
    fn a_latest_document_gives_what_was_shown() {
        let doc = serde_json::json!({
            "schema_version": 1, "customer_number": 103, "source": "stream",
            "recommended": [{"product_code": "P1", "name": null, "product_line": null, "price": null, "score": 0.9},
                            {"product_code": "P2", "name": null, "product_line": null, "price": null, "score": 0.8}],
            "similar_to_session": [{"product_code": "P1", "name": null, "product_line": null, "price": null, "score": 0.7},
                                   {"product_code": "P3", "name": null, "product_line": null, "price": null, "score": 0.6}],
            "provenance": {"recommendation_id": "r1", "model_version": "m", "embedding_version": "e",
                           "generated_at": "2026-12-03T10:00:00.000Z", "experiment": "x", "variant": "control"}
        });
        let shown = Shown::from_document(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(shown.items, ["P1", "P2", "P3"]);
        assert_eq!(shown.recommendation_id, "r1");
        assert_eq!(shown.experiment.as_deref(), Some("x"));
        assert_eq!(shown.variant.as_deref(), Some("control"));
        let mut popular = doc.clone();
        popular["customer_number"] = serde_json::Value::Null;
        assert_eq!(
            Shown::from_document(&serde_json::to_vec(&popular).unwrap()),
            None
        );
    }
}
