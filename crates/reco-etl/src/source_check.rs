//! Checking the source database before extracting: every table and column the ETL reads
//! must exist with a compatible type, so bad input fails fast with a message naming it.

use std::fmt;

use reco_domain::source::{TABLE_CUSTOMERS, TABLE_PRODUCTS, TABLE_RATINGS};
use sqlx::MySqlPool;

use crate::extract::MONEY_MAX_SCALE;

/// The kinds of column types the ETL accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Any MySQL integer type.
    Integer,
    /// `char`, `varchar` or a `text` type.
    Text,
    /// `decimal` with at most two fractional digits, or an integer type.
    Money,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Integer => "an integer type",
            ColumnKind::Text => "char/varchar/text",
            ColumnKind::Money => "decimal(p,s) with s <= 2",
        })
    }
}

/// The columns the ETL reads, per table.
pub const REQUIRED_COLUMNS: &[(&str, &[(&str, ColumnKind)])] = &[
    (
        TABLE_CUSTOMERS,
        &[
            ("customerNumber", ColumnKind::Integer),
            ("city", ColumnKind::Text),
            ("state", ColumnKind::Text),
            ("postalCode", ColumnKind::Text),
            ("country", ColumnKind::Text),
            ("creditLimit", ColumnKind::Money),
        ],
    ),
    (
        TABLE_PRODUCTS,
        &[
            ("productCode", ColumnKind::Text),
            ("productLine", ColumnKind::Text),
            ("productScale", ColumnKind::Text),
            ("quantityInStock", ColumnKind::Integer),
            ("buyPrice", ColumnKind::Money),
            ("MSRP", ColumnKind::Money),
        ],
    ),
    (
        TABLE_RATINGS,
        &[
            ("customerNumber", ColumnKind::Integer),
            ("productCode", ColumnKind::Text),
            ("productRating", ColumnKind::Integer),
        ],
    ),
];

/// One way the source does not match what the ETL expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    /// A table is missing.
    MissingTable {
        /// The table.
        table: String,
    },
    /// A column is missing.
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column has a type the ETL cannot read.
    WrongType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its type in the database.
        found: String,
        /// What was expected.
        expected: ColumnKind,
    },
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::MissingTable { table } => write!(f, "table `{table}` is missing"),
            SchemaProblem::MissingColumn { table, column } => {
                write!(f, "column `{table}`.`{column}` is missing")
            }
            SchemaProblem::WrongType {
                table,
                column,
                found,
                expected,
            } => write!(
                f,
                "column `{table}`.`{column}` has type {found}, expected {expected}"
            ),
        }
    }
}

fn accepts(kind: ColumnKind, data_type: &str, scale: Option<u64>) -> bool {
    const INTEGERS: &[&str] = &[
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "integer",
        "bigint",
    ];
    const TEXTS: &[&str] = &[
        "char",
        "varchar",
        "tinytext",
        "text",
        "mediumtext",
        "longtext",
    ];
    match kind {
        ColumnKind::Integer => INTEGERS.contains(&data_type),
        ColumnKind::Text => TEXTS.contains(&data_type),
        ColumnKind::Money => {
            INTEGERS.contains(&data_type)
                || (data_type == "decimal" && scale.unwrap_or(0) <= MONEY_MAX_SCALE)
        }
    }
}

/// Every problem of the connected database's schema (empty when the ETL can run).
pub async fn check_source_schema(pool: &MySqlPool) -> Result<Vec<SchemaProblem>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, Option<u64>)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), \
         CAST(COLUMN_TYPE AS CHAR), CAST(NUMERIC_SCALE AS UNSIGNED) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(pool)
    .await?;
    let mut problems = Vec::new();
    for (table, columns) in REQUIRED_COLUMNS {
        let of_table: Vec<_> = rows.iter().filter(|r| r.0 == *table).collect();
        if of_table.is_empty() {
            problems.push(SchemaProblem::MissingTable {
                table: (*table).to_owned(),
            });
            continue;
        }
        for (column, kind) in *columns {
            // MySQL column names are case-insensitive.
            match of_table.iter().find(|r| r.1.eq_ignore_ascii_case(column)) {
                None => problems.push(SchemaProblem::MissingColumn {
                    table: (*table).to_owned(),
                    column: (*column).to_owned(),
                }),
                Some(r) if !accepts(*kind, &r.2.to_ascii_lowercase(), r.4) => {
                    problems.push(SchemaProblem::WrongType {
                        table: (*table).to_owned(),
                        column: (*column).to_owned(),
                        found: r.3.clone(),
                        expected: *kind,
                    })
                }
                Some(_) => {}
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_acceptance() {
        assert!(accepts(ColumnKind::Money, "decimal", Some(2)));
        assert!(!accepts(ColumnKind::Money, "decimal", Some(4)));
        assert!(!accepts(ColumnKind::Money, "double", None));
        assert!(accepts(ColumnKind::Integer, "smallint", Some(0)));
        assert!(!accepts(ColumnKind::Integer, "varchar", None));
        assert!(accepts(ColumnKind::Text, "varchar", None));
    }
}
