"""The original design's engine: PySpark local[2] reading MySQL over JDBC, writing the same
training Parquet (same columns and types as reco_domain::training) to a local folder.

The URL uses the mysql scheme (allowed by the MariaDB driver with permitMysqlScheme) so that
Spark picks its MySQL dialect (backtick quoting); with jdbc:mariadb it quotes names with
double quotes, which MariaDB reads as strings."""
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

url, database, out = sys.argv[1], sys.argv[2], sys.argv[3]
spark = (
    SparkSession.builder.master("local[2]")
    .appName("reco-etl-bench")
    .config("spark.jars", "/usr/share/java/mariadb-java-client.jar")
    .config("spark.sql.shuffle.partitions", "8")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")


def table(name):
    return (
        spark.read.format("jdbc")
        .option("url", f"jdbc:mysql://{url}/{database}?permitMysqlScheme")
        .option("driver", "org.mariadb.jdbc.Driver")
        .option("user", "reco")
        .option("password", "reco")
        .option("dbtable", name)
        .option("fetchsize", "10000")
        .load()
    )


ratings = table("ratings")
customers = table("customers").select("customerNumber", "city", "state", "postalCode", "country", "creditLimit")
products = table("products").select("productCode", "productLine", "productScale", "quantityInStock", "buyPrice", "MSRP")
rows = (
    ratings.join(customers, "customerNumber")
    .join(products, "productCode")
    .select(
        F.col("customerNumber").cast("int").alias("customer_number"),
        "city",
        "state",
        F.col("postalCode").alias("postal_code"),
        "country",
        F.col("creditLimit").cast("decimal(10,2)").alias("credit_limit"),
        F.col("productCode").alias("product_code"),
        F.col("productLine").alias("product_line"),
        F.col("productScale").alias("product_scale"),
        F.col("quantityInStock").cast("smallint").alias("quantity_in_stock"),
        F.col("buyPrice").cast("decimal(10,2)").alias("buy_price"),
        F.col("MSRP").cast("decimal(10,2)").alias("msrp"),
        F.col("productRating").cast("tinyint").alias("rating"),
    )
)
rows.write.mode("overwrite").option("compression", "snappy").parquet(out)
print(f"pyspark: wrote {spark.read.parquet(out).count()} rows", file=sys.stderr)
spark.stop()
