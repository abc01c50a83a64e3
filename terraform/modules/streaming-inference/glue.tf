locals {
  delivered_log_location = "s3://${module.recommendations.bucket}/${local.recs_prefix}/"

  # One column per top-level key of reco_domain::recommendation::RecommendationRecord
  # (record version 2): the event's identifiers (no city, country, credit limit, nor any
  # field the contract does not name; the browsed items as product codes only), the two
  # lists (scores with 4 decimals) and provenance. reco-domain's unit test
  # glue_table_columns_are_the_record_keys reads this list and fails when they differ.
  delivered_log_columns = [
    { name = "session_id", type = "string", comment = "Click event: session" },
    { name = "customer_number", type = "bigint", comment = "Click event: customer" },
    { name = "browsed_items", type = "array<string>", comment = "Click event: product codes browsed in the session, oldest first" },
    { name = "event_id", type = "string", comment = "Click event: id, when the producer set one" },
    { name = "event_time", type = "string", comment = "Click event: time, when the producer set one" },
    { name = "recommended_items", type = "array<struct<id:string,score:float>>", comment = "Items for the customer, best first" },
    { name = "similar_items", type = "array<struct<id:string,score:float>>", comment = "Items similar to the browsed ones, best first" },
    { name = "recommendation_id", type = "string", comment = "Deterministic id: duplicates from Firehose retries share it" },
    { name = "model_version", type = "string", comment = "Model whose user tower embedded the customer" },
    { name = "embedding_version", type = "string", comment = "Item embeddings the k-NN ran against" },
    { name = "generated_at", type = "string", comment = "When the record was generated (RFC 3339, UTC)" },
    { name = "experiment", type = "string", comment = "A/B experiment running when the record was made (null when none)" },
    { name = "variant", type = "string", comment = "The customer's variant in the experiment: control or treatment" },
  ]
}

# The delivered log as a table. Partition projection computes the dt/hour partitions
# from the prefix template, so no crawler runs and nothing ever registers a partition.
resource "aws_glue_catalog_table" "delivered_log" {
  name          = var.delivered_log_table_name
  database_name = var.glue_database_name
  description   = "reco delivered log: one recommendation record per click event, as Firehose wrote it"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                      = "TRUE"
    classification                = "json"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.delivered_log_first_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "${local.delivered_log_location}dt=$${dt}/hour=$${hour}/"
  }

  storage_descriptor {
    location = local.delivered_log_location
    # Reads GZIP objects too (the codec follows the .gz suffix; a delivered .ndjson.gz object
    # is a concatenation of gzip members, one per record, which the codec reads whole).
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      name                  = "json"
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.delivered_log_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }

  partition_keys {
    name    = "dt"
    type    = "string"
    comment = "Delivery date (UTC), yyyy-MM-dd"
  }

  partition_keys {
    name    = "hour"
    type    = "string"
    comment = "Delivery hour (UTC), 00-23"
  }
}
