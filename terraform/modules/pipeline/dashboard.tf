# One dashboard for the stack's health: the Embedded Metric Format metrics the Lambda
# binaries emit (namespace "reco", one dimension Service), the daily loop's executions
# and the transform Lambda's errors.
locals {
  metrics_namespace = "reco" # fixed by the binaries (reco_domain's EMF writer)

  # Widget title, Service, metrics (statistic per metric) of every EMF widget, in the
  # order they appear.
  emf_widgets = [
    { title = "Transform: records per outcome", service = "transform", stat = "Sum", metrics = ["RecordsOk", "RecordsFailed", "RecordsDropped", "ResponseFull", "BatchRecords"] },
    { title = "Transform: k-NN time per batch (ms)", service = "transform", stat = "p99", metrics = ["KnnMilliseconds"] },
    { title = "Publisher: documents", service = "publisher", stat = "Sum", metrics = ["DocumentsPublished", "DocumentsKept"] },
    { title = "Publisher: event-to-document freshness (s, max)", service = "publisher", stat = "Maximum", metrics = ["FreshnessSeconds"] },
    { title = "ETL: rows", service = "etl", stat = "Sum", metrics = ["RowsExtracted", "RowsRejected"] },
    { title = "ETL: click events read and event rows written", service = "etl", stat = "Sum", metrics = ["EventsRead", "EventRowsWritten"] },
    { title = "ETL: duration (s)", service = "etl", stat = "Maximum", metrics = ["EtlSeconds"] },
    { title = "Training: duration (s) and accepted models", service = "train", stat = "Maximum", metrics = ["TrainingSeconds", "ModelAccepted"] },
    { title = "Training: nDCG@10, model vs popularity", service = "train", stat = "Maximum", metrics = ["NdcgAt10", "PopularityNdcgAt10"] },
    { title = "Score-all: customers and documents", service = "score-all", stat = "Sum", metrics = ["CustomersScored", "DocumentsPublished", "DocumentsKept"] },
    { title = "Score-all: shard duration (s, max)", service = "score-all", stat = "Maximum", metrics = ["ShardSeconds"] },
    { title = "Load embeddings: rows loaded", service = "load-embeddings", stat = "Sum", metrics = ["ItemsLoaded", "UsersLoaded"] },
    { title = "Load embeddings: duration (s)", service = "load-embeddings", stat = "Maximum", metrics = ["LoadSeconds"] },
  ]

  execution_metrics = ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"]

  other_widgets = [
    {
      title   = "Daily loop: executions"
      stat    = "Sum"
      metrics = [for m in local.execution_metrics : ["AWS/States", m, "StateMachineArn", aws_sfn_state_machine.this.arn]]
    },
    {
      title = "Transform Lambda: errors, throttles, processing-failed rate (%)"
      stat  = "Sum"
      metrics = [
        ["AWS/Lambda", "Errors", "FunctionName", var.transform_function_name],
        ["AWS/Lambda", "Throttles", "FunctionName", var.transform_function_name],
        [local.metrics_namespace, "RecordsOk", "Service", "transform", { id = "ok", visible = false }],
        [local.metrics_namespace, "RecordsFailed", "Service", "transform", { id = "failed", visible = false }],
        [local.metrics_namespace, "RecordsDropped", "Service", "transform", { id = "dropped", visible = false }],
        [{ expression = "100 * FILL(failed, 0) / (FILL(ok, 0) + FILL(failed, 0) + FILL(dropped, 0))", label = "processing-failed rate (%)", id = "rate", yAxis = "right" }],
      ]
    },
  ]

  widget_properties = concat(
    [for w in local.other_widgets : w],
    [for w in local.emf_widgets : {
      title   = w.title
      stat    = w.stat
      metrics = [for m in w.metrics : [local.metrics_namespace, m, "Service", w.service]]
    }],
  )

  dashboard_body = jsonencode({
    widgets = [for i, w in local.widget_properties : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title   = w.title
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = 300
        stat    = w.stat
        metrics = w.metrics
      }
    }]
  })
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = local.dashboard_body
}
