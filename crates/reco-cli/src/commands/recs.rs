//! `reco recs`: the newest recommendations for a customer, read from the recommendations
//! bucket as a front end would (a prefix listing under `customer=<n>/`).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use reco_domain::Settings;
use reco_domain::recommendation::{RecommendationRecord, ScoredItem};
use reco_domain::settings::var;
use reco_firehose_local::reader::{DEFAULT_RECOMMENDATIONS_PREFIX, latest_recommendation};

/// Arguments of `reco recs`.
#[derive(Debug, Args)]
pub struct RecsArgs {
    /// Customer number.
    #[arg(long)]
    pub customer: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Key prefix of recommendation objects in the bucket (the delivery stream's prefix up to `customer=`).
    #[arg(long, default_value = DEFAULT_RECOMMENDATIONS_PREFIX)]
    pub prefix: String,
}

/// Runs `reco recs`: exit 0 with the recommendations, 1 when the customer has none yet.
pub async fn run(args: RecsArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let bucket = settings.require(var::RECO_RECS_BUCKET)?;
    let sdk = reco_aws::sdk_config(settings).await;
    let s3 = reco_aws::s3_client(&sdk);
    let latest = latest_recommendation(&s3, bucket, &args.prefix, args.customer)
        .await
        .with_context(|| format!("reading recommendations of customer {}", args.customer))?;
    let Some(latest) = latest else {
        eprintln!(
            "reco recs: no recommendations for customer {} under s3://{bucket}/{}customer={}/",
            args.customer, args.prefix, args.customer
        );
        return Ok(ExitCode::FAILURE);
    };
    let text = if args.json {
        format!("{}\n", serde_json::to_string(&latest.record)?)
    } else {
        render_table(bucket, &latest.key, &latest.record)
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn render_table(bucket: &str, key: &str, r: &RecommendationRecord) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "customer {}  session {}",
        r.event.customer_number, r.event.session_id
    );
    let _ = writeln!(
        out,
        "generated {}  model {}  embeddings {}  id {}",
        r.generated_at, r.model_version, r.embedding_version, r.recommendation_id
    );
    let _ = writeln!(out, "from s3://{bucket}/{key}");
    let browsed: Vec<&str> = r
        .event
        .browse_history
        .iter()
        .map(|b| b.product_code.as_str())
        .collect();
    let _ = writeln!(out, "browsed: {}", browsed.join(", "));
    print_table(
        &mut out,
        "recommended for the customer",
        &r.recommended_items,
    );
    print_table(&mut out, "similar to the session", &r.similar_items);
    out
}

fn print_table(out: &mut String, title: &str, items: &[ScoredItem]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\n{title}:");
    if items.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let _ = writeln!(out, "  {:>4}  {:<16}  {:>7}", "rank", "product", "score");
    for (rank, item) in items.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>4}  {:<16}  {:>7.4}",
            rank + 1,
            item.id,
            item.score
        );
    }
}
