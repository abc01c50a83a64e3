//! Latency of opening one PostgreSQL connection (TLS as the URL asks) and of small round
//! trips on it, as the transform Lambda pays them at a cold start and per statement.
//!
//! usage: connect_latency <postgres-url> [connections]
//! Prints the median and worst of `connections` (default 20) connects, and of 20 `SELECT 1`
//! round trips on each connection.

use std::time::{Duration, Instant};

use sqlx::Connection as _;

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:.2} ms, worst {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(url) = args.get(1) else {
        return Err("usage: connect_latency <postgres-url> [connections]".into());
    };
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let (mut connects, mut trips) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let mut conn = sqlx::PgConnection::connect(url).await?;
        connects.push(t.elapsed());
        for _ in 0..20 {
            let t = Instant::now();
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            trips.push(t.elapsed());
        }
        conn.close().await?;
    }
    println!("connect ({n}): {}", summary(connects));
    println!("SELECT 1 round trip ({}): {}", trips.len(), summary(trips));
    Ok(())
}
