//! Extracting from the source: the dimension tables (customers, products) into memory —
//! they are small next to ratings — and ratings as a stream, never held whole.
//!
//! Every value is cast to a canonical type in SQL (integers to `SIGNED`, money to integer
//! cents) so that any integer width or `decimal(p, s<=2)` in the source reads the same way.

use std::collections::HashMap;

use futures_util::Stream;
use futures_util::StreamExt;
use reco_domain::source::{Customer, Product};
use reco_domain::training::Cents;
use sqlx::MySqlPool;

/// Money columns may have at most this many fractional digits (they are stored as cents).
pub const MONEY_MAX_SCALE: u64 = 2;

/// A value that does not fit the training schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{table}.{column} = {value} for {key} is out of range: {reason}")]
pub struct ValueError {
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// The row's key.
    pub key: String,
    /// The offending value.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// An extraction failure.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The database failed.
    #[error("query on `{table}` failed: {source}")]
    Query {
        /// The table being read.
        table: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A value does not fit.
    #[error(transparent)]
    Value(#[from] ValueError),
}

fn int<T: TryFrom<i64>>(
    value: i64,
    table: &'static str,
    column: &'static str,
    key: &dyn std::fmt::Display,
    reason: &'static str,
) -> Result<T, ValueError> {
    T::try_from(value).map_err(|_| ValueError {
        table,
        column,
        key: key.to_string(),
        value: value.to_string(),
        reason,
    })
}

/// customerNumber, city, state, postalCode, country, creditLimit in cents.
type CustomerRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
);

/// All customers by number.
pub async fn load_customers(pool: &MySqlPool) -> Result<HashMap<i32, Customer>, ExtractError> {
    let rows: Vec<CustomerRow> = sqlx::query_as(
        "SELECT CAST(customerNumber AS SIGNED), city, state, postalCode, country, \
             CAST(ROUND(creditLimit * 100) AS SIGNED) FROM customers",
    )
    .fetch_all(pool)
    .await
    .map_err(|source| ExtractError::Query {
        table: "customers",
        source,
    })?;
    let mut customers = HashMap::with_capacity(rows.len());
    for (number, city, state, postal_code, country, credit_limit) in rows {
        let customer_number = int(
            number,
            "customers",
            "customerNumber",
            &number,
            "not an int32",
        )?;
        customers.insert(
            customer_number,
            Customer {
                customer_number,
                city,
                state,
                postal_code,
                country,
                credit_limit: credit_limit
                    .map(|c| money(c, "customers", "creditLimit", &number.to_string()))
                    .transpose()?,
            },
        );
    }
    Ok(customers)
}

const MAX_MONEY_CENTS: i64 = 9_999_999_999; // decimal(10,2)

fn money(
    cents: i64,
    table: &'static str,
    column: &'static str,
    key: &str,
) -> Result<Cents, ValueError> {
    if cents.abs() > MAX_MONEY_CENTS {
        return Err(ValueError {
            table,
            column,
            key: key.to_owned(),
            value: Cents(cents).to_string(),
            reason: "does not fit decimal(10,2)",
        });
    }
    Ok(Cents(cents))
}

/// All products by code.
pub async fn load_products(pool: &MySqlPool) -> Result<HashMap<String, Product>, ExtractError> {
    let rows: Vec<(String, String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT productCode, productName, productLine, productScale, CAST(quantityInStock AS SIGNED), \
         CAST(ROUND(buyPrice * 100) AS SIGNED), CAST(ROUND(MSRP * 100) AS SIGNED) FROM products",
    )
    .fetch_all(pool)
    .await
    .map_err(|source| ExtractError::Query {
        table: "products",
        source,
    })?;
    let mut products = HashMap::with_capacity(rows.len());
    for (code, name, line, scale, stock, buy, msrp) in rows {
        let product = Product {
            quantity_in_stock: int(
                stock,
                "products",
                "quantityInStock",
                &code,
                "not a smallint",
            )?,
            buy_price: money(buy, "products", "buyPrice", &code)?,
            msrp: money(msrp, "products", "MSRP", &code)?,
            product_name: name,
            product_line: line,
            product_scale: scale,
            product_code: code.clone(),
        };
        products.insert(code, product);
    }
    Ok(products)
}

/// One rating as read (the rating not yet range-checked).
pub type RawRating = (i64, String, i64);

/// Ratings as a stream of `(customerNumber, productCode, productRating)`.
pub fn stream_ratings(
    pool: &MySqlPool,
) -> impl Stream<Item = Result<RawRating, ExtractError>> + Send + '_ {
    sqlx::query_as::<_, RawRating>(
        "SELECT CAST(customerNumber AS SIGNED), productCode, CAST(productRating AS SIGNED) \
         FROM ratings",
    )
    .fetch(pool)
    .map(|r| {
        r.map_err(|source| ExtractError::Query {
            table: "ratings",
            source,
        })
    })
}
