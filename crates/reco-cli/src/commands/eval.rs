//! `reco eval`: offline metrics of the trainer on a held-out split, next to most-popular.
//!
//! Inputs: a ratings file split by the protocol (`--ratings`, MovieLens `.inter`), or a
//! pre-split pair (`--train`, `--test`: CSV `user_id,item_id,timestamp`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use reco_domain::Settings;
use reco_train::evaluation::{self, RankingMetrics};
use reco_train::offline::{self, EvalReport};
use reco_train::towers::TrainConfig;
use reco_train::{als, files, towers};

/// Model hyper-parameters shared by `reco train` and `reco eval`.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Latent factors (embedding dimension D = factors + 1).
    #[arg(long, default_value_t = als::DEFAULT_FACTORS)]
    pub factors: usize,
    /// ALS iterations.
    #[arg(long, default_value_t = als::DEFAULT_ITERATIONS)]
    pub iterations: usize,
    /// L2 regularisation of the factors.
    #[arg(long, default_value_t = als::DEFAULT_REGULARIZATION)]
    pub regularization: f64,
    /// Confidence scale: an observed pair weighs 1 + alpha * weight.
    #[arg(long, default_value_t = als::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// L2 regularisation of the feature towers.
    #[arg(long, default_value_t = towers::DEFAULT_FEATURE_REGULARIZATION)]
    pub feature_regularization: f64,
    /// Seed of the initial factors (same seed, same embeddings).
    #[arg(long, default_value_t = als::DEFAULT_SEED)]
    pub seed: u64,
}

impl ModelArgs {
    /// The trainer's configuration, checked.
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let config = TrainConfig {
            als: als::AlsConfig {
                factors: self.factors,
                iterations: self.iterations,
                regularization: self.regularization,
                alpha: self.alpha,
                seed: self.seed,
            },
            feature_regularization: self.feature_regularization,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Arguments of `reco eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ratings file to split by the protocol (RecBole `.inter`, e.g. MovieLens 100k).
    #[arg(long, conflicts_with_all = ["train", "test", "input"])]
    pub ratings: Option<PathBuf>,
    /// Local training Parquet (file or folder, the ETL's schema): held-out split as `reco
    /// train` does it (per customer, last fifth of ratings >= 4 in a seeded order).
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub input: Option<PathBuf>,
    /// Pre-split training events (CSV `user_id,item_id,timestamp`).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// Pre-split test events (CSV `user_id,item_id,timestamp`).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// With `--ratings`: write the protocol's split as DIR/train.csv and DIR/test.csv.
    #[arg(long, value_name = "DIR")]
    pub write_split: Option<PathBuf>,
    /// Write the model's top 10 per user (CSV `user_id,item_id,rank`).
    #[arg(long, value_name = "FILE")]
    pub recs_out: Option<PathBuf>,
    /// Also score top lists produced by another tool (CSV `user_id,item_id,rank`).
    #[arg(long, value_name = "FILE")]
    pub score_recs: Option<PathBuf>,
    /// Write the metrics as JSON.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Exit with code 3 when the model's nDCG@10 is below this.
    #[arg(long)]
    pub min_ndcg: Option<f64>,
    /// Model hyper-parameters.
    #[command(flatten)]
    pub model: ModelArgs,
}

fn print_row(name: &str, m: &RankingMetrics) {
    println!(
        "{name:<14} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>6}",
        m.precision_at_10,
        m.recall_at_10,
        m.ndcg_at_10,
        m.hit_rate_at_10,
        m.coverage_at_10,
        m.users
    );
}

/// Prints a side-by-side table of metrics.
pub fn print_table(rows: &[(&str, &RankingMetrics)]) {
    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "ranker", "prec@10", "recall@10", "ndcg@10", "hit@10", "cover@10", "users"
    );
    for (name, m) in rows {
        print_row(name, m);
    }
}

/// Runs `reco eval`.
pub async fn run(args: EvalArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    let config = args.model.config()?;
    if let Some(path) = &args.input {
        let rows = reco_train::job::read_local(path)?;
        let source = path.display().to_string();
        let (train_rows, test_rows) = reco_train::snapshot::holdout(&rows, config.als.seed);
        let test: Vec<evaluation::Event> = test_rows
            .iter()
            .map(|r| evaluation::Event {
                user: r.customer_number.to_string(),
                item: r.product_code.clone(),
                timestamp: 0.0,
            })
            .collect();
        let data = reco_train::snapshot::training_data(&train_rows, &source)?;
        eprintln!(
            "eval: {} rows -> {} training rows, {} held-out pairs",
            rows.len(),
            train_rows.len(),
            test.len()
        );
        return finish(&args, &config, &data, &test);
    }
    let (train, test, source) = match (&args.ratings, &args.train, &args.test) {
        (Some(path), _, _) => {
            let events = files::read_inter(path)?;
            let split = evaluation::protocol_split(&events);
            eprintln!(
                "eval: {} ratings -> {} train / {} test positives (protocol split)",
                events.len(),
                split.train.len(),
                split.test.len()
            );
            if let Some(dir) = &args.write_split {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                files::write_split(&dir.join("train.csv"), &split.train)?;
                files::write_split(&dir.join("test.csv"), &split.test)?;
                eprintln!("eval: wrote {0}/train.csv and {0}/test.csv", dir.display());
            }
            (split.train, split.test, path.display().to_string())
        }
        (None, Some(train), Some(test)) => (
            files::read_split(train)?,
            files::read_split(test)?,
            train.display().to_string(),
        ),
        _ => anyhow::bail!("give --ratings FILE, --input PARQUET, or --train FILE --test FILE"),
    };
    let data = offline::data_from_events(&train, &source)?;
    finish(&args, &config, &data, &test)
}

fn finish(
    args: &EvalArgs,
    config: &TrainConfig,
    data: &reco_train::towers::TrainingData,
    test: &[evaluation::Event],
) -> anyhow::Result<ExitCode> {
    eprintln!(
        "eval: training on {} users x {} items ({} pairs)",
        data.interactions.users.len(),
        data.interactions.items.len(),
        data.interactions.nnz()
    );
    let run = offline::evaluate(data, test, config, |iteration, loss| {
        eprintln!(
            "train: iteration {iteration}/{} loss {loss:.4}",
            config.als.iterations
        );
    });
    eprintln!("eval: trained in {:.2} s", run.report.train_seconds);
    let external = match &args.score_recs {
        Some(path) => Some(offline::score_external(
            &data.interactions,
            &files::read_recs(path)?,
            test,
        )),
        None => None,
    };
    let mut rows: Vec<(&str, &RankingMetrics)> = vec![
        ("reco", &run.report.model),
        ("most-popular", &run.report.most_popular),
    ];
    if let Some(m) = &external {
        rows.push(("external", m));
    }
    print_table(&rows);
    if let Some(path) = &args.recs_out {
        files::write_recs(path, &run.recommendations)?;
        eprintln!("eval: wrote top-10 lists to {}", path.display());
    }
    if let Some(path) = &args.metrics_out {
        let json = metrics_json(&run.report, external.as_ref(), config);
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(min) = args.min_ndcg
        && run.report.model.ndcg_at_10 < min
    {
        eprintln!(
            "eval: nDCG@10 {:.4} is below --min-ndcg {min}",
            run.report.model.ndcg_at_10
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn metrics_json(
    report: &EvalReport,
    external: Option<&RankingMetrics>,
    config: &TrainConfig,
) -> serde_json::Value {
    serde_json::json!({
        "evaluation": report,
        "external": external,
        "config": {
            "factors": config.als.factors,
            "iterations": config.als.iterations,
            "regularization": config.als.regularization,
            "alpha": config.als.alpha,
            "feature_regularization": config.feature_regularization,
            "seed": config.als.seed,
        },
    })
}
