//! The daily loop, described once: its steps in order, what each one is sent, what of its
//! answer is kept, how it is retried, where the loop branches and fans out, and what it says
//! when it ends. The Step Functions definition ([`crate::asl`]) and the local runner
//! ([`crate::runner`]) are both read from [`STEPS`]; neither has its own copy.
//!
//! The loop's state is one JSON document. A step's request is built from constants, settings
//! and paths into that document (`$.train.model_version`); the fields of its answer named in
//! [`Step::keep`] are stored at [`Step::result_path`]. Paths are the plain `$.a.b` subset of
//! JSONPath, which both Step Functions and the runner ([`crate::json_path`]) evaluate.

/// A Lambda function of the loop. On AWS each is one function (the same zip, different
/// permissions, network and memory); locally they are one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// Source database → training snapshot (in the VPC, next to the source database).
    Etl,
    /// Snapshot → model version (quality gate).
    Train,
    /// Embeddings → pgvector, and `LATEST` (in the VPC, next to PostgreSQL).
    LoadEmbeddings,
    /// Shard planning and scoring of every customer.
    ScoreAll,
}

impl Function {
    /// The state machine template's variable holding the function's ARN.
    pub fn template_variable(self) -> &'static str {
        match self {
            Self::Etl => "etl_function_arn",
            Self::Train => "train_function_arn",
            Self::LoadEmbeddings => "load_function_arn",
            Self::ScoreAll => "score_function_arn",
        }
    }

    /// The `Service` dimension of the function's metrics.
    pub fn service(self) -> &'static str {
        match self {
            Self::Etl => "etl",
            Self::Train => "train",
            Self::LoadEmbeddings => "load-embeddings",
            Self::ScoreAll => "score-all",
        }
    }
}

/// A number set at deploy time (a Terraform variable on AWS, a flag of `reco pipeline run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Customers per score-all shard.
    CustomersPerShard,
    /// Most shards of one run.
    MaxShards,
}

impl Setting {
    /// The state machine template's variable.
    pub fn template_variable(self) -> &'static str {
        match self {
            Self::CustomersPerShard => "customers_per_shard",
            Self::MaxShards => "max_shards",
        }
    }
}

/// Where one field of a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A path into the loop's state, e.g. `$.train.model_version`.
    Path(&'static str),
    /// A deploy-time number.
    Setting(Setting),
}

/// Retries of a step after a transient failure: exponential backoff with full jitter, the
/// Step Functions `Retry` fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Delay before the first retry.
    pub interval_seconds: u32,
    /// Retries after the first attempt (Step Functions' `MaxAttempts`).
    pub max_attempts: u32,
    /// Factor of each further delay.
    pub backoff_rate: f64,
    /// Longest delay.
    pub max_delay_seconds: u32,
}

impl Retry {
    /// The ceiling of the delay before retry `n` (1-based); the delay itself is drawn
    /// uniformly below it (full jitter).
    pub fn ceiling_seconds(&self, n: u32) -> f64 {
        let grown = f64::from(self.interval_seconds) * self.backoff_rate.powi(n as i32 - 1);
        grown.min(f64::from(self.max_delay_seconds))
    }
}

/// Errors a step is retried on: the steps' own transient failures and the Lambda service's.
pub const RETRY_ON: &[&str] = &[
    TRANSIENT_ERROR,
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// `errorType` of a failure worth retrying (a database or storage outage, a throttle).
pub const TRANSIENT_ERROR: &str = "reco.Transient";
/// `errorType` of a failure a retry cannot fix (bad input, missing data, configuration).
pub const INVALID_ERROR: &str = "reco.Invalid";
/// The error a refused model ends the run with.
pub const REFUSED_ERROR: &str = "reco.ModelRefused";

/// A step fanned out over a list of requests (a Distributed Map on AWS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Path of the list in the state; each element is a whole request of the step.
    pub items: &'static str,
}

/// A branch after a step: the run goes on when the boolean at `path` is true, else it stops
/// as refused with `message`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Path of the decision, e.g. `$.train.accepted`.
    pub path: &'static str,
    /// What the operators are told when it is false.
    pub refused: Message,
}

/// A notification: a subject and a `States.Format` template whose `{}` are filled from
/// paths of the state in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Message {
    /// Subject line (SNS subjects: at most 100 characters).
    pub subject: &'static str,
    /// Template with one `{}` per argument.
    pub format: &'static str,
    /// Paths of the arguments.
    pub args: &'static [&'static str],
}

/// One step of the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The request's `step` field, e.g. `train`.
    pub name: &'static str,
    /// Name of its state in the state machine, e.g. `Train`.
    pub state: &'static str,
    /// What it does, for people.
    pub title: &'static str,
    /// The function that runs it.
    pub function: Function,
    /// Request fields besides `step`, in order.
    pub inputs: &'static [(&'static str, Source)],
    /// Fields of the answer kept in the state.
    pub keep: &'static [&'static str],
    /// Where they are kept; `None`: the answer is dropped (the fan-out's many answers).
    pub result_path: Option<&'static str>,
    /// Retries after transient failures.
    pub retry: Retry,
    /// Run once per element of a list instead of once.
    pub fan_out: Option<FanOut>,
    /// Branch after the step.
    pub gate: Option<Gate>,
}

/// The loop, in order: snapshot → train (gate) → load → plan shards → score every customer
/// → make the version live.
pub const STEPS: &[Step] = &[
    Step {
        name: "etl",
        state: "Etl",
        title: "ETL snapshot of the source database",
        function: Function::Etl,
        inputs: &[],
        keep: &[
            "snapshot",
            "rows_read",
            "rows_written",
            "rejected",
            "events_read",
            "event_rows",
        ],
        result_path: Some("$.etl"),
        retry: Retry {
            interval_seconds: 30,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: 300,
        },
        fan_out: None,
        gate: None,
    },
    Step {
        name: "train",
        state: "Train",
        title: "train a model version on the snapshot (quality gate)",
        function: Function::Train,
        inputs: &[("snapshot", Source::Path("$.etl.snapshot"))],
        keep: &[
            "model_version",
            "accepted",
            "reason",
            "customers",
            "ndcg_at_10",
            "popularity_ndcg_at_10",
        ],
        result_path: Some("$.train"),
        retry: Retry {
            interval_seconds: 60,
            max_attempts: 2,
            backoff_rate: 2.0,
            max_delay_seconds: 300,
        },
        fan_out: None,
        gate: Some(Gate {
            path: "$.train.accepted",
            refused: Message {
                subject: "reco: model refused by the quality gate",
                format: "Model version {} was refused by the quality gate: {}. The live version and the latest documents are unchanged.",
                args: &["$.train.model_version", "$.train.reason"],
            },
        }),
    },
    Step {
        name: "load",
        state: "LoadEmbeddings",
        title: "load the version's embeddings into pgvector",
        function: Function::LoadEmbeddings,
        inputs: &[("model_version", Source::Path("$.train.model_version"))],
        keep: &["embedding_version", "items", "users"],
        result_path: Some("$.load"),
        retry: Retry {
            interval_seconds: 30,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: 300,
        },
        fan_out: None,
        gate: None,
    },
    Step {
        name: "plan",
        state: "PlanShards",
        title: "split the customers into score-all shards",
        function: Function::ScoreAll,
        inputs: &[
            ("model_version", Source::Path("$.train.model_version")),
            (
                "customers_per_shard",
                Source::Setting(Setting::CustomersPerShard),
            ),
            ("max_shards", Source::Setting(Setting::MaxShards)),
        ],
        keep: &["customers", "shard_count", "shards"],
        result_path: Some("$.plan"),
        retry: Retry {
            interval_seconds: 5,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: 60,
        },
        fan_out: None,
        gate: None,
    },
    Step {
        name: "score",
        state: "ScoreAll",
        title: "score every customer, one shard per invocation",
        function: Function::ScoreAll,
        inputs: &[],
        keep: &[],
        result_path: None,
        retry: Retry {
            interval_seconds: 10,
            max_attempts: 4,
            backoff_rate: 2.0,
            max_delay_seconds: 120,
        },
        fan_out: Some(FanOut {
            items: "$.plan.shards",
        }),
        gate: None,
    },
    Step {
        name: "publish",
        state: "Publish",
        title: "make the version live (LATEST)",
        function: Function::LoadEmbeddings,
        inputs: &[("model_version", Source::Path("$.train.model_version"))],
        keep: &["model_version", "previous"],
        result_path: Some("$.publish"),
        retry: Retry {
            interval_seconds: 5,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: 60,
        },
        fan_out: None,
        gate: None,
    },
];

/// Told when a run made a version live.
pub const LIVE: Message = Message {
    subject: "reco: new model version live",
    format: "Model version {} is live: snapshot {}, {} customers in {} shard(s), nDCG@10 {} (most popular {}).",
    args: &[
        "$.train.model_version",
        "$.etl.snapshot",
        "$.plan.customers",
        "$.plan.shard_count",
        "$.train.ndcg_at_10",
        "$.train.popularity_ndcg_at_10",
    ],
};

/// Told when a step failed for good; the error's name and cause are at `$.error`.
pub const FAILED: Message = Message {
    subject: "reco: daily pipeline failed",
    format: "The daily pipeline failed: {}: {}. The live version is unchanged; re-running the pipeline is safe.",
    args: &["$.error.Error", "$.error.Cause"],
};

/// The step named `name`.
pub fn step(name: &str) -> Option<&'static Step> {
    STEPS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_a_step_reads_is_written_by_an_earlier_step() {
        let mut written: Vec<(&str, &[&str])> = Vec::new();
        for step in STEPS {
            let mut reads: Vec<&str> = step
                .inputs
                .iter()
                .filter_map(|(_, s)| match s {
                    Source::Path(p) => Some(*p),
                    Source::Setting(_) => None,
                })
                .collect();
            reads.extend(step.fan_out.map(|f| f.items));
            for path in reads {
                let (root, field) = path
                    .strip_prefix("$.")
                    .and_then(|p| p.split_once('.'))
                    .unwrap_or_else(|| panic!("{path} is not $.step.field"));
                let found = written
                    .iter()
                    .any(|(r, keep)| *r == root && keep.contains(&field));
                assert!(found, "{} reads {path} before any step keeps it", step.name);
            }
            if let Some(gate) = step.gate {
                assert_eq!(
                    Some(gate.path.rsplit_once('.').unwrap().0),
                    step.result_path
                );
            }
            if let Some(path) = step.result_path {
                written.push((path.strip_prefix("$.").unwrap(), step.keep));
            }
        }
        for message in [LIVE, FAILED, STEPS[1].gate.unwrap().refused] {
            assert_eq!(message.format.matches("{}").count(), message.args.len());
            // States.Format needs ', {, } and \\ escaped; the templates use none of them.
            let bare = message.format.replace("{}", "");
            assert!(!bare.contains(['\'', '{', '}', '\\']), "{}", message.format);
            assert!(message.subject.len() <= 100);
        }
    }

    #[test]
    fn retry_delays_grow_then_stop_at_the_ceiling() {
        let retry = Retry {
            interval_seconds: 10,
            max_attempts: 4,
            backoff_rate: 2.0,
            max_delay_seconds: 30,
        };
        let ceilings: Vec<f64> = (1..=4).map(|n| retry.ceiling_seconds(n)).collect();
        assert_eq!(ceilings, [10.0, 20.0, 30.0, 30.0]);
    }

    #[test]
    fn step_names_are_unique_and_found() {
        for s in STEPS {
            assert_eq!(step(s.name).map(|f| f.state), Some(s.state));
        }
        assert!(step("nope").is_none());
    }
}
