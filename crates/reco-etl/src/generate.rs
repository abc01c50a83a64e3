//! Synthetic classicmodels-shaped source data of any size, deterministic for a seed.
//!
//! - Customers: cities, states, postal codes and countries from real classicmodels-like
//!   locations (state and postal code null where classicmodels has nulls), credit limits
//!   0 for about a fifth of customers (as in classicmodels) and 20,000-230,000 otherwise.
//! - Products: the seven classicmodels product lines, its scales and vendors, buy prices
//!   15-105 and an MSRP 1.3-2.2x the buy price. `orders`/`orderdetails` stay empty.
//! - Ratings: each customer rates a number of distinct products drawn from a long-tailed
//!   (Zipf, s = 1.05) popularity over products; the rating is driven by hidden traits:
//!   `3 + customer bias + product bias + 1.2 * <customer taste, product style> / 2 + noise`,
//!   rounded and clamped to 1..5, where taste is centred per country and style per product
//!   line (so observable features carry signal) and both have individual parts a model can
//!   learn from interactions.
//!
//! Rows are written in primary-key order with multi-row INSERTs of bound values
//! ([`sqlx::QueryBuilder`]); progress is reported as `tracing` events.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::query_builder::Separated;
use sqlx::{ConnectOptions, MySql, MySqlConnection, QueryBuilder};

use crate::classicmodels::{LoadError, SOURCE_SCHEMA_SQL, execute_script};

/// Dimensions of the hidden taste/style vectors.
const TRAIT_DIM: usize = 4;
/// Zipf exponent of product popularity.
const POPULARITY_EXPONENT: f64 = 1.05;
/// Most rows per INSERT statement: ~300 KB statements, far below MariaDB's 16 MB default
/// `max_allowed_packet`, and large enough to amortise round trips.
const INSERT_ROWS: usize = 10_000;
/// Most placeholders in one prepared statement: MySQL and MariaDB refuse more
/// (`ER_PS_MANY_PARAM`, "Prepared statement contains too many placeholders"; the protocol
/// counts parameters in 16 bits).
const MAX_PLACEHOLDERS: usize = 65_535;
/// Interval of progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// (city, state, postal code, country); `None` where classicmodels has nulls.
const LOCATIONS: &[(&str, Option<&str>, Option<&str>, &str)] = &[
    ("Nantes", None, Some("44000"), "France"),
    ("Paris", None, Some("75016"), "France"),
    ("Las Vegas", Some("NV"), Some("83030"), "USA"),
    ("San Rafael", Some("CA"), Some("97562"), "USA"),
    ("San Francisco", Some("CA"), Some("94217"), "USA"),
    ("NYC", Some("NY"), Some("10022"), "USA"),
    ("Boston", Some("MA"), Some("51247"), "USA"),
    ("Philadelphia", Some("PA"), Some("71270"), "USA"),
    ("Melbourne", Some("Victoria"), Some("3004"), "Australia"),
    ("North Sydney", Some("NSW"), Some("2060"), "Australia"),
    ("Stavern", None, Some("4110"), "Norway"),
    ("Madrid", None, Some("28034"), "Spain"),
    ("Barcelona", None, Some("08022"), "Spain"),
    ("Luleå", None, Some("S-958 22"), "Sweden"),
    ("København", None, Some("1734"), "Denmark"),
    ("Frankfurt", None, Some("60528"), "Germany"),
    ("München", None, Some("80686"), "Germany"),
    ("Torino", None, Some("10100"), "Italy"),
    ("Singapore", None, Some("079903"), "Singapore"),
    ("Tokyo", Some("Tokyo"), Some("106-0032"), "Japan"),
    ("Hong Kong", None, None, "Hong Kong"),
    ("Dublin", None, None, "Ireland"),
    ("Auckland", None, None, "New Zealand"),
    ("Montréal", Some("Québec"), Some("H1J 1C3"), "Canada"),
    ("London", None, Some("WX1 6LT"), "UK"),
    ("Helsinki", None, Some("21240"), "Finland"),
    ("Bern", None, Some("3012"), "Switzerland"),
    ("Bruxelles", None, Some("B-1180"), "Belgium"),
];
const PRODUCT_LINES: &[(&str, &str)] = &[
    (
        "Classic Cars",
        "Attention car enthusiasts: make your wildest car ownership dreams come true.",
    ),
    (
        "Motorcycles",
        "Our motorcycles are state of the art replicas of classic as well as contemporary motorcycle legends.",
    ),
    (
        "Planes",
        "Unique, diecast airplane and helicopter replicas suitable for collections.",
    ),
    (
        "Ships",
        "The perfect holiday or anniversary gift for executives, clients, friends, and family.",
    ),
    (
        "Trains",
        "Model trains are a rewarding hobby for enthusiasts of all ages.",
    ),
    (
        "Trucks and Buses",
        "The Truck and Bus models are realistic replicas of buses and specialized trucks.",
    ),
    (
        "Vintage Cars",
        "Our Vintage Car models realistically portray automobiles produced from the early 1900s through the 1940s.",
    ),
];
const SCALES: &[&str] = &[
    "1:10", "1:12", "1:18", "1:24", "1:32", "1:50", "1:72", "1:700",
];
const VENDORS: &[&str] = &[
    "Min Lin Diecast",
    "Classic Metal Creations",
    "Highway 66 Mini Classics",
    "Red Start Diecast",
    "Motor City Art Classics",
    "Second Gear Diecast",
    "Autoart Studio Design",
    "Welly Diecast Productions",
    "Unimax Art Galleries",
    "Studio M Art Models",
    "Exoto Designs",
    "Gearbox Collectibles",
    "Carousel DieCast Legends",
];
const FIRST_NAMES: &[&str] = &[
    "Carine",
    "Jean",
    "Peter",
    "Janine",
    "Jonas",
    "Susan",
    "Zbyszek",
    "Roland",
    "Julie",
    "Kwai",
    "Diego",
    "Christina",
];
const LAST_NAMES: &[&str] = &[
    "Schmitt",
    "King",
    "Ferguson",
    "Labrune",
    "Bergulfsen",
    "Nelson",
    "Piestrzeniewicz",
    "Keitel",
    "Murphy",
    "Lee",
    "Freyre",
    "Berglund",
];

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Customers.
    pub customers: u32,
    /// Products.
    pub products: u32,
    /// Ratings (distinct customer-product pairs).
    pub ratings: u64,
    /// Seed: the same spec gives the same data.
    pub seed: u64,
}

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The spec cannot be satisfied.
    #[error("invalid generate request: {0}")]
    Invalid(String),
    /// Creating the schema failed.
    #[error(transparent)]
    Schema(#[from] LoadError),
    /// Inserting failed.
    #[error("inserting into `{table}` failed: {source}")]
    Insert {
        /// The table.
        table: &'static str,
        /// The server's error.
        source: sqlx::Error,
    },
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// Customers written.
    pub customers: u64,
    /// Products written.
    pub products: u64,
    /// Ratings written.
    pub ratings: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// A standard normal sample (Box-Muller; `rand_distr` is not worth a dependency here).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn vector(rng: &mut ChaCha8Rng, scale: f64) -> [f64; TRAIT_DIM] {
    std::array::from_fn(|_| normal(rng) * scale)
}

/// `cents` as a decimal literal (`1234` -> `12.34`), bound to `decimal(10,2)` columns
/// exactly (a float would round).
fn cents(value: i64) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}

/// A row of one source table, inserted with bound values.
trait SourceRow {
    /// The table.
    const TABLE: &'static str;
    /// Its columns, in the order [`SourceRow::bind`] binds them.
    const COLUMNS: &'static [&'static str];
    /// Binds the row's values, one per column.
    fn bind(&self, values: Separated<'_, MySql, &'static str>);
}

/// Rows per INSERT of a table with `columns` columns: [`INSERT_ROWS`], fewer when the
/// placeholders would exceed [`MAX_PLACEHOLDERS`].
fn rows_per_statement(columns: usize) -> usize {
    INSERT_ROWS.min(MAX_PLACEHOLDERS / columns.max(1))
}

/// The multi-row INSERT of `rows` (at most [`rows_per_statement`] of them).
fn insert_statement<R: SourceRow>(rows: &[R]) -> QueryBuilder<MySql> {
    let mut query = QueryBuilder::new(format!(
        "INSERT INTO {} ({}) ",
        R::TABLE,
        R::COLUMNS.join(", ")
    ));
    query.push_values(rows, |values, row| row.bind(values));
    query
}

/// Buffers rows of one table and inserts them a statement at a time.
struct Inserter<'c, R> {
    conn: &'c mut MySqlConnection,
    rows: Vec<R>,
    per_statement: usize,
}

impl<'c, R: SourceRow> Inserter<'c, R> {
    fn new(conn: &'c mut MySqlConnection) -> Self {
        let per_statement = rows_per_statement(R::COLUMNS.len());
        Self {
            conn,
            rows: Vec::with_capacity(per_statement),
            per_statement,
        }
    }

    /// Adds a row; returns whether a statement was executed.
    async fn push(&mut self, row: R) -> Result<bool, GenerateError> {
        self.rows.push(row);
        if self.rows.len() < self.per_statement {
            return Ok(false);
        }
        self.flush().await?;
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), GenerateError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        insert_statement(&self.rows)
            .build()
            .execute(&mut *self.conn)
            .await
            .map_err(|source| GenerateError::Insert {
                table: R::TABLE,
                source,
            })?;
        self.rows.clear();
        Ok(())
    }
}

struct ProductLineRow {
    line: &'static str,
    text: &'static str,
}

impl SourceRow for ProductLineRow {
    const TABLE: &'static str = "productlines";
    const COLUMNS: &'static [&'static str] = &["productLine", "textDescription"];
    fn bind(&self, mut values: Separated<'_, MySql, &'static str>) {
        values.push_bind(self.line).push_bind(self.text);
    }
}

struct ProductRow {
    code: String,
    name: String,
    line: &'static str,
    scale: &'static str,
    vendor: &'static str,
    stock: i64,
    buy_cents: i64,
    msrp_cents: i64,
}

impl SourceRow for ProductRow {
    const TABLE: &'static str = "products";
    const COLUMNS: &'static [&'static str] = &[
        "productCode",
        "productName",
        "productLine",
        "productScale",
        "productVendor",
        "productDescription",
        "quantityInStock",
        "buyPrice",
        "MSRP",
    ];
    fn bind(&self, mut values: Separated<'_, MySql, &'static str>) {
        values
            .push_bind(self.code.as_str())
            .push_bind(self.name.as_str())
            .push_bind(self.line)
            .push_bind(self.scale)
            .push_bind(self.vendor)
            .push_bind("Generated replica.")
            .push_bind(self.stock)
            .push_bind(cents(self.buy_cents))
            .push_bind(cents(self.msrp_cents));
    }
}

struct CustomerRow {
    number: i64,
    last_name: &'static str,
    first_name: &'static str,
    city: &'static str,
    state: Option<&'static str>,
    postal_code: Option<&'static str>,
    country: &'static str,
    credit_cents: i64,
}

impl SourceRow for CustomerRow {
    const TABLE: &'static str = "customers";
    const COLUMNS: &'static [&'static str] = &[
        "customerNumber",
        "customerName",
        "contactLastName",
        "contactFirstName",
        "phone",
        "addressLine1",
        "addressLine2",
        "city",
        "state",
        "postalCode",
        "country",
        "salesRepEmployeeNumber",
        "creditLimit",
    ];
    fn bind(&self, mut values: Separated<'_, MySql, &'static str>) {
        let number = self.number;
        values
            .push_bind(number)
            .push_bind(format!("Customer {number} Ltd."))
            .push_bind(self.last_name)
            .push_bind(self.first_name)
            .push_bind(format!("555-{:04}", number % 10_000))
            .push_bind(format!("{number} Main St."))
            .push_bind(None::<&str>)
            .push_bind(self.city)
            .push_bind(self.state)
            .push_bind(self.postal_code)
            .push_bind(self.country)
            .push_bind(None::<i64>)
            .push_bind(cents(self.credit_cents));
    }
}

struct RatingRow<'a> {
    customer_number: i64,
    product_code: &'a str,
    rating: i64,
}

impl SourceRow for RatingRow<'_> {
    const TABLE: &'static str = "ratings";
    const COLUMNS: &'static [&'static str] = &["customerNumber", "productCode", "productRating"];
    fn bind(&self, mut values: Separated<'_, MySql, &'static str>) {
        values
            .push_bind(self.customer_number)
            .push_bind(self.product_code)
            .push_bind(self.rating);
    }
}

/// Tables dropped before generating (every classicmodels table, so foreign keys of a
/// previously loaded dump do not get in the way).
const DROPPED_TABLES: &str = "payments, orderdetails, orders, ratings, customers, employees, offices, products, productlines";

/// Replaces the source tables of the database `options` names with generated data.
pub async fn generate(
    options: &MySqlConnectOptions,
    spec: GenerateSpec,
) -> Result<GenerateReport, GenerateError> {
    let started = Instant::now();
    if spec.customers == 0 || spec.products == 0 {
        return Err(GenerateError::Invalid(
            "--customers and --products must be at least 1".into(),
        ));
    }
    let pairs = u64::from(spec.customers) * u64::from(spec.products);
    if spec.ratings > pairs {
        return Err(GenerateError::Invalid(format!(
            "--ratings {} exceeds customers x products = {pairs} (one rating per pair)",
            spec.ratings
        )));
    }
    let insert_error = |table| move |source| GenerateError::Insert { table, source };
    let mut conn = options.connect().await.map_err(insert_error("(connect)"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET FOREIGN_KEY_CHECKS = 0; SET UNIQUE_CHECKS = 0; DROP TABLE IF EXISTS {DROPPED_TABLES}"
    )))
    .execute(&mut conn)
    .await
    .map_err(insert_error("(drop tables)"))?;
    execute_script(&mut conn, "sql/source_schema.sql", SOURCE_SCHEMA_SQL, &[]).await?;

    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    // Hidden structure: per product line style, per country taste.
    let line_style: Vec<[f64; TRAIT_DIM]> = PRODUCT_LINES
        .iter()
        .map(|_| vector(&mut rng, 1.0))
        .collect();
    let countries: Vec<&str> = {
        let mut c: Vec<&str> = LOCATIONS.iter().map(|l| l.3).collect();
        c.dedup();
        c.sort_unstable();
        c.dedup();
        c
    };
    let country_taste: Vec<[f64; TRAIT_DIM]> =
        countries.iter().map(|_| vector(&mut rng, 0.8)).collect();

    let mut ins = Inserter::new(&mut conn);
    for &(line, text) in PRODUCT_LINES {
        ins.push(ProductLineRow { line, text }).await?;
    }
    ins.flush().await?;

    // Products.
    let mut product_codes = Vec::with_capacity(spec.products as usize);
    let mut product_style = Vec::with_capacity(spec.products as usize);
    let mut product_bias = Vec::with_capacity(spec.products as usize);
    let mut ins = Inserter::new(&mut conn);
    for n in 0..spec.products {
        let line = rng.random_range(0..PRODUCT_LINES.len());
        let scale = SCALES[rng.random_range(0..SCALES.len())];
        let vendor = VENDORS[rng.random_range(0..VENDORS.len())];
        let code = format!("S{}_{:05}", &scale[2..], n + 1);
        let buy = rng.random_range(1500..=10_500i64);
        let msrp = (buy as f64 * rng.random_range(1.3..2.2)).round() as i64;
        let stock = rng.random_range(0..=9_999i64);
        let base = line_style[line];
        let own = vector(&mut rng, 0.7);
        product_style.push(std::array::from_fn::<f64, TRAIT_DIM, _>(|d| {
            base[d] + own[d]
        }));
        product_bias.push(normal(&mut rng) * 0.5);
        product_codes.push(code.clone());
        ins.push(ProductRow {
            code,
            name: format!("{} {} Model {}", vendor, PRODUCT_LINES[line].0, n + 1),
            line: PRODUCT_LINES[line].0,
            scale,
            vendor,
            stock,
            buy_cents: buy,
            msrp_cents: msrp,
        })
        .await?;
    }
    ins.flush().await?;

    // Long-tailed popularity over a random order of products.
    let mut by_popularity: Vec<usize> = (0..product_codes.len()).collect();
    for i in (1..by_popularity.len()).rev() {
        by_popularity.swap(i, rng.random_range(0..=i));
    }
    let mut cdf = Vec::with_capacity(by_popularity.len());
    let mut total = 0.0;
    for rank in 0..by_popularity.len() {
        total += 1.0 / ((rank + 1) as f64).powf(POPULARITY_EXPONENT);
        cdf.push(total);
    }

    // Customers, with how many ratings each gives (log-normal activity).
    let mut customer_taste = Vec::with_capacity(spec.customers as usize);
    let mut customer_bias = Vec::with_capacity(spec.customers as usize);
    let mut activity = Vec::with_capacity(spec.customers as usize);
    let mut ins = Inserter::new(&mut conn);
    for n in 0..spec.customers {
        let number = 100 + i64::from(n);
        let (city, state, postal, country) = LOCATIONS[rng.random_range(0..LOCATIONS.len())];
        let country_index = countries.binary_search(&country).unwrap_or(0);
        let own = vector(&mut rng, 0.8);
        customer_taste.push(std::array::from_fn::<f64, TRAIT_DIM, _>(|d| {
            country_taste[country_index][d] + own[d]
        }));
        customer_bias.push(normal(&mut rng) * 0.3);
        activity.push((normal(&mut rng) * 0.8).exp());
        let credit = if rng.random_bool(0.2) {
            0
        } else {
            rng.random_range(200..=2_300i64) * 10_000
        };
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        ins.push(CustomerRow {
            number,
            last_name: last,
            first_name: first,
            city,
            state,
            postal_code: postal,
            country,
            credit_cents: credit,
        })
        .await?;
    }
    ins.flush().await?;

    // Ratings per customer: shares of `spec.ratings` by activity, capped at the product count.
    let counts = allocate(spec.ratings, &activity, spec.products as u64);
    let mut ins = Inserter::new(&mut conn);
    let mut written = 0u64;
    let mut next_progress = Instant::now() + PROGRESS_INTERVAL;
    let mut chosen: Vec<usize> = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    for (c, &count) in counts.iter().enumerate() {
        let count = count as usize;
        chosen.clear();
        seen.clear();
        let mut attempts = 0;
        while chosen.len() < count && attempts < count * 20 {
            attempts += 1;
            let u = rng.random::<f64>() * total;
            let rank = cdf.partition_point(|&x| x < u).min(cdf.len() - 1);
            let p = by_popularity[rank];
            if seen.insert(p) {
                chosen.push(p);
            }
        }
        // Dense customers: fill up with the most popular products not chosen yet.
        for &p in &by_popularity {
            if chosen.len() >= count {
                break;
            }
            if seen.insert(p) {
                chosen.push(p);
            }
        }
        // Primary-key order makes the inserts appends.
        chosen.sort_unstable_by(|a, b| product_codes[*a].cmp(&product_codes[*b]));
        let number = 100 + c as i64;
        for &p in &chosen {
            let affinity: f64 = (0..TRAIT_DIM)
                .map(|d| customer_taste[c][d] * product_style[p][d])
                .sum();
            let score = 3.0
                + customer_bias[c]
                + product_bias[p]
                + 1.2 * affinity / 2.0
                + normal(&mut rng) * 0.5;
            let rating = score.round().clamp(1.0, 5.0) as i64;
            written += 1;
            let flushed = ins
                .push(RatingRow {
                    customer_number: number,
                    product_code: &product_codes[p],
                    rating,
                })
                .await?;
            if flushed && Instant::now() >= next_progress {
                next_progress = Instant::now() + PROGRESS_INTERVAL;
                tracing::info!(ratings = written, of = spec.ratings, "generating ratings");
            }
        }
    }
    ins.flush().await?;
    sqlx::raw_sql("SET FOREIGN_KEY_CHECKS = 1; SET UNIQUE_CHECKS = 1")
        .execute(&mut conn)
        .await
        .map_err(insert_error("(restore checks)"))?;
    Ok(GenerateReport {
        customers: u64::from(spec.customers),
        products: u64::from(spec.products),
        ratings: written,
        elapsed: started.elapsed(),
    })
}

/// Splits `total` over customers proportionally to `weights`, each at most `cap`
/// (deterministic: leftovers go to customers in index order).
fn allocate(total: u64, weights: &[f64], cap: u64) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|w| ((total as f64 * w / sum).floor() as u64).min(cap))
        .collect();
    let mut assigned: u64 = counts.iter().sum();
    while assigned < total {
        let before = assigned;
        for count in counts.iter_mut() {
            if assigned == total {
                break;
            }
            if *count < cap {
                *count += 1;
                assigned += 1;
            }
        }
        if assigned == before {
            break; // every customer is full (cannot happen: total <= customers x cap)
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exact_and_capped() {
        let counts = allocate(100, &[1.0, 5.0, 0.1, 2.0], 30);
        assert_eq!(counts.iter().sum::<u64>(), 100);
        assert!(counts.iter().all(|&c| c <= 30));
        assert_eq!(allocate(12, &[1.0, 1.0, 1.0], 4), vec![4, 4, 4]);
    }

    #[test]
    fn values_are_bound_not_spliced_into_the_statement() {
        let rows = [
            RatingRow {
                customer_number: 100,
                product_code: "O'Brien \\ co",
                rating: 5,
            },
            RatingRow {
                customer_number: 101,
                product_code: "S18_00001",
                rating: 1,
            },
        ];
        assert_eq!(
            insert_statement(&rows).sql().as_str(),
            "INSERT INTO ratings (customerNumber, productCode, productRating) VALUES (?, ?, ?), (?, ?, ?)"
        );
    }

    #[test]
    fn statements_stay_under_the_placeholder_limit() {
        assert_eq!(rows_per_statement(RatingRow::COLUMNS.len()), INSERT_ROWS);
        let per_statement = rows_per_statement(CustomerRow::COLUMNS.len());
        assert_eq!(per_statement, MAX_PLACEHOLDERS / 13);
        let rows: Vec<CustomerRow> = (0..per_statement as i64)
            .map(|number| CustomerRow {
                number,
                last_name: "King",
                first_name: "Jean",
                city: "Nantes",
                state: None,
                postal_code: Some("44000"),
                country: "France",
                credit_cents: 2_100_000,
            })
            .collect();
        let placeholders = insert_statement(&rows).sql().as_str().matches('?').count();
        assert_eq!(placeholders, per_statement * 13);
        assert!(placeholders <= MAX_PLACEHOLDERS);
    }

    #[test]
    fn money_is_an_exact_decimal_literal() {
        assert_eq!(cents(1_500), "15.00");
        assert_eq!(cents(10_507), "105.07");
        assert_eq!(cents(0), "0.00");
    }
}
