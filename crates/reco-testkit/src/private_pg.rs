//! A throwaway PostgreSQL + pgvector server of one test, for tests that stop and start the
//! database (the shared server of the local stack serves every other test at the same time
//! and must never be stopped).
//!
//! The cluster is created with the same binaries `scripts/local-up.sh` uses (PostgreSQL
//! `PG_MAJOR` of `scripts/lib/common.sh`), run as the `postgres` OS user when the tests run
//! as root (PostgreSQL refuses to run as root), listens on a free port of 127.0.0.1 only, and
//! is stopped and deleted when the guard is dropped. Host connections are trusted without a
//! password: nothing but this machine can reach the server, and it lives for one test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use sqlx::Connection as _;

use crate::{repo_root, unique_name};

/// The OS user PostgreSQL runs as when the tests run as root (as in `scripts/local-up.sh`).
const PG_OS_USER: &str = "postgres";

/// Name of the database the server is created with (the `vector` extension installed).
pub const PRIVATE_PG_DATABASE: &str = "reco";

/// A PostgreSQL server of its own: start, stop and start again; deleted on drop.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates a cluster in a fresh folder, starts it on a free port and creates the
    /// database [`PRIVATE_PG_DATABASE`] with the `vector` extension.
    ///
    /// Panics with the tool's output when a step fails: a fault test without its server must
    /// fail loudly.
    pub async fn start() -> Self {
        let bin = pg_bin(&repo_root());
        let as_postgres = is_root();
        // Under /var/tmp: the postgres user must reach it, which a checkout under /root denies.
        let dir = std::env::temp_dir().join(unique_name("reco-pg-private-", '-'));
        let dir = if as_postgres {
            PathBuf::from("/var/tmp").join(dir.file_name().expect("folder name"))
        } else {
            dir
        };
        let server = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let dir = server.dir.display().to_string();
        server.run("mkdir", &["-p", &format!("{dir}/run")]).await;
        server
            .run(
                &server.tool("initdb"),
                &[
                    "-D",
                    &format!("{dir}/data"),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
            )
            .await;
        server.start_again().await;
        let mut admin = sqlx::PgConnection::connect(&server.url_of("postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the private PostgreSQL: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {PRIVATE_PG_DATABASE}"
        )))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE failed");
        let mut db = sqlx::PgConnection::connect(&server.url())
            .await
            .expect("connect to the private database");
        sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut db)
            .await
            .expect("CREATE EXTENSION vector failed");
        server
    }

    /// URL of the database [`PRIVATE_PG_DATABASE`] (no TLS: 127.0.0.1 only).
    pub fn url(&self) -> String {
        self.url_of(PRIVATE_PG_DATABASE)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Stops the server (fast shutdown: open connections are cut, as in an outage).
    pub async fn stop(&self) {
        let data = format!("{}/data", self.dir.display());
        self.run(
            &self.tool("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"],
        )
        .await;
    }

    /// Starts the server (again) on the same port and data, waiting until it accepts
    /// connections.
    pub async fn start_again(&self) {
        let dir = self.dir.display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {dir}/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        self.run(
            &self.tool("pg_ctl"),
            &[
                "-D",
                &format!("{dir}/data"),
                "-l",
                &format!("{dir}/postgres.log"),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        )
        .await;
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).display().to_string()
    }

    /// Runs `program` (as the postgres user when root), panicking with its output on failure.
    async fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut command = if self.as_postgres {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", PG_OS_USER, "--", program]);
            c
        } else {
            tokio::process::Command::new(program)
        };
        let output = command
            .args(args)
            // pg_ctl's server keeps the pipes open otherwise; its log goes to postgres.log.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let mut stop = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", PG_OS_USER, "--"]).arg(&pg_ctl);
            c
        } else {
            std::process::Command::new(&pg_ctl)
        };
        // Immediate: the test is over; a server already stopped makes pg_ctl fail, harmlessly.
        let _ = stop
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "warning: could not remove the private PostgreSQL folder {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// The PostgreSQL binaries `scripts/local-up.sh` uses: `/usr/lib/postgresql/<PG_MAJOR>/bin`
/// with `PG_MAJOR` read from `scripts/lib/common.sh`, so the two never disagree.
fn pg_bin(root: &Path) -> PathBuf {
    let common = root.join("scripts/lib/common.sh");
    let text = std::fs::read_to_string(&common)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", common.display()));
    let major = text
        .lines()
        .find_map(|line| line.strip_prefix("PG_MAJOR="))
        .map(|v| v.trim().trim_matches('"'))
        .unwrap_or_else(|| panic!("no PG_MAJOR= line in {}", common.display()));
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    assert!(
        bin.join("initdb").exists(),
        "{} has no initdb: run scripts/local-install.sh",
        bin.display()
    );
    bin
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port of 127.0.0.1 nothing listens on now (the OS picks it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}
