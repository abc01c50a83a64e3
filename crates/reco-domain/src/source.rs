//! The source contract: the MySQL tables and columns the batch pipeline reads (classicmodels
//! `customers` and `products` plus `ratings`), and their row types.
//!
//! The DDL lives in `sql/source_schema.sql`; names here must match it.

use crate::training::{Cents, MAX_RATING, MIN_RATING, TrainingRow};

/// Table of customers (classicmodels).
pub const TABLE_CUSTOMERS: &str = "customers";
/// Table of products (classicmodels).
pub const TABLE_PRODUCTS: &str = "products";
/// Table of product lines (classicmodels).
pub const TABLE_PRODUCT_LINES: &str = "productlines";
/// Table of orders (classicmodels).
pub const TABLE_ORDERS: &str = "orders";
/// Table of order lines (classicmodels).
pub const TABLE_ORDER_DETAILS: &str = "orderdetails";
/// Table of ratings: `(customerNumber, productCode)` primary key, `productRating` 1..=5.
pub const TABLE_RATINGS: &str = "ratings";

/// A customer's attributes used for training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// `customerNumber`.
    pub customer_number: i32,
    /// `city`.
    pub city: String,
    /// `state` (nullable).
    pub state: Option<String>,
    /// `postalCode` (nullable).
    pub postal_code: Option<String>,
    /// `country`.
    pub country: String,
    /// `creditLimit` (nullable).
    pub credit_limit: Option<Cents>,
}

/// A product's attributes used for training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `productCode`.
    pub product_code: String,
    /// `productName` (display only: the storefront's cards, never a model feature).
    pub product_name: String,
    /// `productLine`.
    pub product_line: String,
    /// `productScale`.
    pub product_scale: String,
    /// `quantityInStock`.
    pub quantity_in_stock: i16,
    /// `buyPrice`.
    pub buy_price: Cents,
    /// `MSRP`.
    pub msrp: Cents,
}

/// One row of `ratings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// `customerNumber`.
    pub customer_number: i32,
    /// `productCode`.
    pub product_code: String,
    /// `productRating`.
    pub rating: i8,
}

/// Whether `rating` is in the valid 1..=5 range.
pub fn is_valid_rating(rating: i64) -> bool {
    (i64::from(MIN_RATING)..=i64::from(MAX_RATING)).contains(&rating)
}

impl TrainingRow {
    /// The training row of `rating` joined with its customer and product.
    pub fn join(rating: &Rating, customer: &Customer, product: &Product) -> Self {
        Self {
            customer_number: rating.customer_number,
            city: customer.city.clone(),
            state: customer.state.clone(),
            postal_code: customer.postal_code.clone(),
            country: customer.country.clone(),
            credit_limit: customer.credit_limit,
            product_code: rating.product_code.clone(),
            product_line: product.product_line.clone(),
            product_scale: product.product_scale.clone(),
            quantity_in_stock: product.quantity_in_stock,
            buy_price: product.buy_price,
            msrp: product.msrp,
            rating: rating.rating,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_copies_every_attribute() {
        let customer = Customer {
            customer_number: 103,
            city: "Nantes".into(),
            state: None,
            postal_code: Some("44000".into()),
            country: "France".into(),
            credit_limit: Some(Cents(2_100_000)),
        };
        let product = Product {
            product_name: "1952 Alpine Renault 1300".into(),
            product_code: "S10_1678".into(),
            product_line: "Motorcycles".into(),
            product_scale: "1:10".into(),
            quantity_in_stock: 7933,
            buy_price: Cents(4881),
            msrp: Cents(9570),
        };
        let rating = Rating {
            customer_number: 103,
            product_code: "S10_1678".into(),
            rating: 4,
        };
        let row = TrainingRow::join(&rating, &customer, &product);
        assert_eq!(row.city, "Nantes");
        assert_eq!(row.state, None);
        assert_eq!(row.credit_limit, Some(Cents(2_100_000)));
        assert_eq!(row.msrp.to_string(), "95.70");
        assert_eq!(row.rating, 4);
        assert!(is_valid_rating(5) && !is_valid_rating(0) && !is_valid_rating(6));
    }
}
