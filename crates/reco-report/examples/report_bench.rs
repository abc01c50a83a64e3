//! Times the report on generated traffic in a local folder standing in for the lake:
//! `cargo run -p reco-report --example report_bench -- [CUSTOMERS] [DIR]` (default 20000
//! customers, 6 sessions of 4 impressions each; DIR default a temporary folder, removed after).
//! Prints rows, objects, the time of the read + attribution, rows/s, the attribution state and
//! the process's peak RSS. With DIR given the folder is kept (`aws s3 sync DIR s3://BUCKET/` and
//! `reco report` read the same lake); a DIR that already holds events is read without
//! generating (the peak RSS is then the report's alone).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use reco_aws::Bucket;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let customers: i64 = args
        .next()
        .map_or(20_000, |a| a.parse().expect("CUSTOMERS"));
    let keep = args.next().map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("reco-report-bench-{}", std::process::id()))
    });
    let traffic = support::Traffic {
        customers,
        sessions_per_customer: 6,
        items_per_recommendation: 4,
        seed: 1,
        control: support::Propensities {
            click: 0.08,
            cart_after_click: 0.35,
            purchase_after_cart: 0.5,
        },
        treatment: support::Propensities {
            click: 0.085,
            cart_after_click: 0.35,
            purchase_after_cart: 0.5,
        },
    };
    let lake = Bucket::local_dir(&dir).expect("lake folder");
    // A kept folder that already holds events is read as it is (the report alone in the
    // process: its peak RSS is the report's).
    if !dir.join("events").is_dir() {
        let rows = support::generate(&traffic);
        let objects = support::write_lake(&lake, &rows).await;
        eprintln!(
            "generated {} events in {objects} objects under {}",
            rows.len(),
            dir.display()
        );
    }
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let started = Instant::now();
    let report = reco_report::run(&lake, &support::config(), &mut |_, _| {})
        .await
        .expect("report");
    let secs = started.elapsed().as_secs_f64();
    print!("{}", report.render());
    println!(
        "\nbench: {} rows ({:.1} MB Parquet) in {secs:.2} s = {:.0} rows/s; {} impression events, \
         attribution state {:.1} MiB ({:.1} B per impression event incl. outcomes); peak RSS {:.0} MiB \
         ({rss_before:.0} MiB before the report)",
        report.read.rows,
        report.read.bytes as f64 / 1e6,
        report.read.rows as f64 / secs,
        report.impression_events,
        report.state_bytes as f64 / 1_048_576.0,
        report.state_bytes as f64 / report.impression_events as f64,
        peak_rss_mib().unwrap_or(0.0),
    );
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).expect("remove the bench folder");
    }
}
