//! Fault: Kinesis throttles `reco produce`. A proxy in front of the emulator refuses part of
//! the records of some PutRecords calls (per-record `ProvisionedThroughputExceededException`,
//! those records NOT forwarded) and whole calls of others (HTTP 400, nothing forwarded).
//! Reading the stream back, every event is there exactly once.
#![cfg(feature = "integration")]

mod fault_support;

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use fault_support::reco;
use reco_config::var;
use reco_testkit::{LocalStack, unique_name};

const EVENTS: u64 = 1_700;
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// What the proxy did to PutRecords calls.
#[derive(Debug, Default, Clone)]
struct Injected {
    calls: u64,
    whole_calls_refused: u64,
    records_refused: u64,
    records_forwarded: u64,
}

/// One HTTP/1.1 message: start line, headers (lower-case names), body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads one message; `None` at the end of the connection. Bodies by Content-Length or
    /// chunked; `to_end` reads a body without either up to the end (responses only).
    fn read(reader: &mut impl std::io::BufRead, to_end: bool) -> Option<Message> {
        let mut start = String::new();
        if reader.read_line(&mut start).ok()? == 0 {
            return None;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut message = Message {
            start: start.trim_end().to_owned(),
            headers,
            body: Vec::new(),
        };
        if let Some(length) = message.header("content-length") {
            let mut body = vec![0; length.parse().unwrap()];
            reader.read_exact(&mut body).unwrap();
            message.body = body;
        } else if message.header("transfer-encoding") == Some("chunked") {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                message.body.extend_from_slice(&chunk[..size]);
            }
        } else if to_end {
            reader.read_to_end(&mut message.body).unwrap();
        }
        Some(message)
    }

    /// Writes the message with a Content-Length body (hop-by-hop headers replaced).
    fn write(&self, out: &mut impl std::io::Write, close: bool) {
        let mut head = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            if !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes()).unwrap();
        out.write_all(&self.body).unwrap();
        out.flush().unwrap();
    }
}

/// Sends `request` to the emulator and returns its response.
fn forward(upstream: &str, request: &Message) -> Message {
    let mut stream = TcpStream::connect(upstream).unwrap();
    request.write(&mut stream, true);
    Message::read(&mut BufReader::new(stream), true).expect("no response from the emulator")
}

fn json_response(status: &str, body: serde_json::Value, error: Option<&str>) -> Message {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/x-amz-json-1.1".to_owned(),
    )];
    if let Some(error) = error {
        headers.push(("x-amzn-errortype".to_owned(), error.to_owned()));
    }
    Message {
        start: format!("HTTP/1.1 {status}"),
        headers,
        body: serde_json::to_vec(&body).unwrap(),
    }
}

/// A PutRecords call through the proxy: by call number, the whole call is refused (1 in 3),
/// every third record is refused and the others forwarded (1 in 3), or all is forwarded.
fn put_records(upstream: &str, request: Message, injected: &Mutex<Injected>) -> Message {
    assert!(
        request
            .header("content-type")
            .is_some_and(|c| c.contains("json")),
        "PutRecords is not JSON: {:?}",
        request.header("content-type")
    );
    let mut body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let records = body["Records"].as_array().unwrap().clone();
    let call = {
        let mut injected = injected.lock().unwrap();
        injected.calls += 1;
        injected.calls - 1
    };
    match call % 3 {
        0 => {
            injected.lock().unwrap().whole_calls_refused += 1;
            json_response(
                "400 Bad Request",
                serde_json::json!({"__type": THROTTLED, "message": "Rate exceeded (injected)"}),
                Some(THROTTLED),
            )
        }
        1 => {
            let refused = |i: usize| i.is_multiple_of(3);
            let forwarded: Vec<serde_json::Value> = records
                .iter()
                .enumerate()
                .filter(|(i, _)| !refused(*i))
                .map(|(_, r)| r.clone())
                .collect();
            let mut answers = if forwarded.is_empty() {
                Vec::new()
            } else {
                let count = forwarded.len() as u64;
                body["Records"] = serde_json::Value::Array(forwarded);
                let response = forward(
                    upstream,
                    &Message {
                        body: serde_json::to_vec(&body).unwrap(),
                        ..request
                    },
                );
                assert!(response.start.contains(" 200 "), "{}", response.start);
                let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                injected.lock().unwrap().records_forwarded += count;
                answer["Records"].as_array().unwrap().clone()
            }
            .into_iter();
            let mut failed = 0;
            let merged: Vec<serde_json::Value> = (0..records.len())
                .map(|i| {
                    if refused(i) {
                        failed += 1;
                        serde_json::json!({"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded (injected)"})
                    } else {
                        let answer = answers.next().unwrap();
                        if answer.get("ErrorCode").is_some() {
                            failed += 1;
                        }
                        answer
                    }
                })
                .collect();
            injected.lock().unwrap().records_refused += (records.len() as u64).div_ceil(3);
            json_response(
                "200 OK",
                serde_json::json!({"FailedRecordCount": failed, "Records": merged}),
                None,
            )
        }
        _ => {
            injected.lock().unwrap().records_forwarded += records.len() as u64;
            forward(upstream, &request)
        }
    }
}

/// Serves one client connection (HTTP/1.1 keep-alive): PutRecords through the fault policy,
/// every other call forwarded as is.
fn serve(client: TcpStream, upstream: &str, injected: &Mutex<Injected>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    while let Some(request) = Message::read(&mut reader, false) {
        let target = request
            .header("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let response = if target.ends_with(".PutRecords") {
            put_records(upstream, request, injected)
        } else {
            forward(upstream, &request)
        };
        response.write(&mut writer, false);
    }
}

/// Starts the proxy in front of `upstream` (host:port); returns its port.
fn start_proxy(upstream: String, injected: Arc<Mutex<Injected>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let (upstream, injected) = (upstream.clone(), injected.clone());
            std::thread::spawn(move || serve(client, &upstream, &injected));
        }
    });
    port
}

#[tokio::test]
async fn throttled_puts_deliver_every_event_exactly_once() {
    let stack = LocalStack::get();
    let mysql = stack.mysql_database().await;
    let endpoint = stack.setting(var::AWS_ENDPOINT_URL).to_owned();
    let upstream = endpoint
        .strip_prefix("http://")
        .expect("the emulator is plain HTTP")
        .trim_end_matches('/')
        .to_owned();
    let kinesis = aws_sdk_kinesis::Client::new(&stack.sdk_config().await);
    let stream = unique_name("reco-t-fault-throttle-", '-');
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let result = async {
        for _ in 0..100 {
            let summary = kinesis
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await?;
            if summary.stream_description_summary.unwrap().stream_status == StreamStatus::Active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let env = vec![(var::RECO_MYSQL_URL, mysql.url.clone())];
        reco(
            &env,
            &[
                "source",
                "generate",
                "--customers",
                "60",
                "--products",
                "30",
                "--ratings",
                "200",
            ],
        );

        let injected = Arc::new(Mutex::new(Injected::default()));
        let port = start_proxy(upstream, injected.clone());
        let env = vec![
            (var::RECO_MYSQL_URL, mysql.url.clone()),
            (var::RECO_CLICK_STREAM, stream.clone()),
            (var::AWS_ENDPOINT_URL, format!("http://127.0.0.1:{port}")),
        ];
        let produced = reco(
            &env,
            &["produce", "--events", &EVENTS.to_string(), "--seed", "9"],
        );
        let stderr = String::from_utf8_lossy(&produced.stderr).into_owned();
        let injected = injected.lock().unwrap().clone();
        assert!(injected.whole_calls_refused > 0, "{injected:?}");
        assert!(injected.records_refused > 0, "{injected:?}");
        assert_eq!(injected.records_forwarded, EVENTS, "{injected:?}");
        assert!(
            stderr.contains(&format!(
                "({} entries retried after throttling)",
                injected.records_refused
            )),
            "{injected:?}\n{stderr}"
        );

        // Read the stream back from the emulator itself.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let shards = kinesis.list_shards().stream_name(&stream).send().await?;
        for shard in shards.shards() {
            let mut iterator = kinesis
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            while let Some(it) = iterator {
                let page = kinesis.get_records().shard_iterator(it).send().await?;
                for record in page.records() {
                    let event: serde_json::Value = serde_json::from_slice(record.data().as_ref())?;
                    let id = event["event_id"].as_str().unwrap().to_owned();
                    *seen.entry(id).or_default() += 1;
                }
                if page.records().is_empty() {
                    break;
                }
                iterator = page.next_shard_iterator;
            }
        }
        let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicates.is_empty(),
            "delivered more than once: {duplicates:?}"
        );
        let expected: Vec<String> = (0..EVENTS).map(|i| format!("evt-9-{i}")).collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .collect();
        assert!(missing.is_empty(), "never delivered: {missing:?}");
        assert_eq!(seen.len() as u64, EVENTS);
        eprintln!("{injected:?}; {stderr}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    kinesis
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .ok();
    result.unwrap();
}
