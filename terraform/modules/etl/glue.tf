resource "aws_glue_catalog_database" "this" {
  name        = var.glue_database_name
  description = "reco: training rows extracted from the source database"
}

# Training rows as Parquet, one partition per snapshot date: the file count grows
# with snapshots, not with customers. reco-etl adds each snapshot's partition and
# replaces a re-run snapshot rather than appending to it.
resource "aws_glue_catalog_table" "training" {
  name          = var.glue_table_name
  database_name = aws_glue_catalog_database.this.name
  description   = "reco training rows: one denormalized row per rating or per customer x product pair of click events"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    classification        = "parquet"
    EXTERNAL              = "TRUE"
    "parquet.compression" = "ZSTD"
  }

  storage_descriptor {
    location      = "s3://${module.data_lake.bucket}/${local.training_prefix}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = var.training_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }

  dynamic "partition_keys" {
    for_each = var.partition_keys
    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  # reco-etl registers the schema of the code that writes the rows (columns, comments,
  # parameters such as reco.schema_version) on every run; Terraform creates the table and
  # leaves the schema to the job instead of reverting it on each apply.
  lifecycle {
    ignore_changes = [description, parameters, storage_descriptor, partition_keys]
  }
}
