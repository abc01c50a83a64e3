"""Polars + ConnectorX: read the three tables from MySQL, join, write the same training
Parquet (same columns and types as reco_domain::training) to a local file."""
import sys

import polars as pl

url, out = sys.argv[1], sys.argv[2]


def read(query):
    return pl.read_database_uri(query, uri=url, engine="connectorx")


ratings = read("SELECT customerNumber, productCode, productRating FROM ratings")
customers = read("SELECT customerNumber, city, state, postalCode, country, creditLimit FROM customers")
products = read("SELECT productCode, productLine, productScale, quantityInStock, buyPrice, MSRP FROM products")
rows = (
    ratings.join(customers, on="customerNumber")
    .join(products, on="productCode")
    .select(
        pl.col("customerNumber").cast(pl.Int32).alias("customer_number"),
        "city",
        "state",
        pl.col("postalCode").alias("postal_code"),
        "country",
        pl.col("creditLimit").cast(pl.Decimal(10, 2)).alias("credit_limit"),
        pl.col("productCode").alias("product_code"),
        pl.col("productLine").alias("product_line"),
        pl.col("productScale").alias("product_scale"),
        pl.col("quantityInStock").cast(pl.Int16).alias("quantity_in_stock"),
        pl.col("buyPrice").cast(pl.Decimal(10, 2)).alias("buy_price"),
        pl.col("MSRP").cast(pl.Decimal(10, 2)).alias("msrp"),
        pl.col("productRating").cast(pl.Int8).alias("rating"),
    )
)
rows.write_parquet(out, compression="snappy", row_group_size=128 * 1024)
print(f"polars: wrote {rows.height} rows", file=sys.stderr)
