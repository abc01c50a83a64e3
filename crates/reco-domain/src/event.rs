//! The click event the front end puts on Kinesis, and its validation.
//!
//! Contract (DESIGN.md): UTF-8 JSON with `session_id`, `customer_number`, `city`, `country`,
//! `credit_limit`, `browse_history[{product_code, quantity, in_shopping_cart}]`, optional
//! `event_id` and `event_time`. Unknown fields are accepted and skipped: nothing the
//! contract does not name reaches an output (the recommendation record copies only the
//! event's identifiers: [`crate::recommendation::RecordEvent`]).

use serde::{Deserialize, Serialize};

/// Largest click event accepted, in bytes of JSON.
///
/// Kinesis caps a record's data blob at 1 MiB (PutRecords limits), so nothing larger can
/// arrive from the stream; a larger payload is refused before parsing.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Most items one event's browse history may carry; beyond this the event is refused
/// rather than sending an unbounded exclusion list to the vector database.
pub const MAX_BROWSED_ITEMS: usize = 1_000;

/// Longest product code accepted (classicmodels `productCode` is `varchar(15)`; generated
/// catalogues use longer codes, so leave room).
pub const MAX_PRODUCT_CODE_CHARS: usize = 64;

/// One click event: who browsed what in which session.
///
/// Deserialised by hand ([`ClickEventVisitor`]): serde's `flatten` buffers every field of
/// every event before parsing it, which made parsing the largest per-record cost of the
/// transform. The personal fields (city, country, credit limit) feed the user tower of an
/// unknown customer and never leave the transform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClickEvent {
    /// The front end's session identifier.
    pub session_id: String,
    /// The customer; numbers unknown to the model still get recommendations from their features.
    pub customer_number: i64,
    /// The customer's city, if known.
    pub city: Option<String>,
    /// The customer's country, if known.
    pub country: Option<String>,
    /// The customer's credit limit, if known.
    pub credit_limit: Option<f64>,
    /// Items browsed in this session, oldest first.
    pub browse_history: Vec<BrowsedItem>,
    /// Producer-assigned event identifier, when the producer sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Producer-assigned event time (RFC 3339), when the producer sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
}

impl<'de> Deserialize<'de> for ClickEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ClickEventVisitor)
    }
}

/// A key of a click event object.
enum EventKey {
    SessionId,
    CustomerNumber,
    City,
    Country,
    CreditLimit,
    BrowseHistory,
    EventId,
    EventTime,
    Other,
}

impl<'de> Deserialize<'de> for EventKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = EventKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<EventKey, E> {
                Ok(match key {
                    "session_id" => EventKey::SessionId,
                    "customer_number" => EventKey::CustomerNumber,
                    "city" => EventKey::City,
                    "country" => EventKey::Country,
                    "credit_limit" => EventKey::CreditLimit,
                    "browse_history" => EventKey::BrowseHistory,
                    "event_id" => EventKey::EventId,
                    "event_time" => EventKey::EventTime,
                    _ => EventKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Reads a click event object field by field; unknown fields are skipped unread.
struct ClickEventVisitor;

/// Stores a field's value, refusing a second occurrence as serde's derive does.
fn set_once<T, E: serde::de::Error>(
    slot: &mut Option<T>,
    value: T,
    name: &'static str,
) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> serde::de::Visitor<'de> for ClickEventVisitor {
    type Value = ClickEvent;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a click event object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ClickEvent, A::Error> {
        let mut session_id = None;
        let mut customer_number = None;
        let mut city = None;
        let mut country = None;
        let mut credit_limit = None;
        let mut browse_history = None;
        let mut event_id = None;
        let mut event_time = None;
        while let Some(key) = map.next_key::<EventKey>()? {
            match key {
                EventKey::SessionId => set_once(&mut session_id, map.next_value()?, "session_id")?,
                EventKey::CustomerNumber => {
                    set_once(&mut customer_number, map.next_value()?, "customer_number")?
                }
                EventKey::City => set_once(&mut city, map.next_value()?, "city")?,
                EventKey::Country => set_once(&mut country, map.next_value()?, "country")?,
                EventKey::CreditLimit => {
                    set_once(&mut credit_limit, map.next_value()?, "credit_limit")?
                }
                EventKey::BrowseHistory => {
                    set_once(&mut browse_history, map.next_value()?, "browse_history")?
                }
                EventKey::EventId => set_once(&mut event_id, map.next_value()?, "event_id")?,
                EventKey::EventTime => set_once(&mut event_time, map.next_value()?, "event_time")?,
                EventKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        use serde::de::Error as _;
        Ok(ClickEvent {
            session_id: session_id.ok_or_else(|| A::Error::missing_field("session_id"))?,
            customer_number: customer_number
                .ok_or_else(|| A::Error::missing_field("customer_number"))?,
            city: city.flatten(),
            country: country.flatten(),
            credit_limit: credit_limit.flatten(),
            browse_history: browse_history
                .ok_or_else(|| A::Error::missing_field("browse_history"))?,
            event_id: event_id.flatten(),
            event_time: event_time.flatten(),
        })
    }
}

/// One browsed product in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowsedItem {
    /// The product's code (`products.productCode`).
    pub product_code: String,
    /// Quantity the customer looked at or put in the cart.
    #[serde(default)]
    pub quantity: i64,
    /// Whether the item is in the shopping cart.
    #[serde(default)]
    pub in_shopping_cart: bool,
}

/// Why a click event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// The payload is larger than [`MAX_EVENT_BYTES`].
    #[error("event is {bytes} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Size of the payload.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The Firehose record's `data` is not valid base64.
    #[error("record data is not valid base64: {reason}")]
    NotBase64 {
        /// The decoder's message.
        reason: String,
    },
    /// The payload is not a JSON click event (syntax error, wrong type or missing field).
    #[error("event is not a valid click event JSON at line {line} column {column}: {reason}")]
    NotJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message (field names only, never values).
        reason: String,
    },
    /// A field has a value the contract does not allow.
    #[error("field {field} is invalid: {reason}")]
    Invalid {
        /// Path of the field, e.g. `browse_history[3].product_code`.
        field: String,
        /// What was wrong.
        reason: String,
    },
}

impl ClickEvent {
    /// Parses and validates one event from its JSON bytes.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge {
                bytes: bytes.len(),
                limit: MAX_EVENT_BYTES,
            });
        }
        let event: ClickEvent = serde_json::from_slice(bytes).map_err(|e| EventError::NotJson {
            line: e.line(),
            column: e.column(),
            reason: strip_values(&e),
        })?;
        event.validate()?;
        Ok(event)
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), EventError> {
        let invalid = |field: String, reason: &str| {
            Err(EventError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.session_id.trim().is_empty() {
            return invalid("session_id".into(), "must not be empty");
        }
        if self.customer_number < 0 {
            return invalid("customer_number".into(), "must not be negative");
        }
        if let Some(limit) = self.credit_limit
            && (!limit.is_finite() || limit < 0.0)
        {
            return invalid(
                "credit_limit".into(),
                "must be a finite, non-negative number",
            );
        }
        if self.browse_history.len() > MAX_BROWSED_ITEMS {
            return invalid(
                "browse_history".into(),
                &format!("has more than {MAX_BROWSED_ITEMS} items"),
            );
        }
        for (i, item) in self.browse_history.iter().enumerate() {
            let code = item.product_code.trim();
            if code.is_empty() {
                return invalid(
                    format!("browse_history[{i}].product_code"),
                    "must not be empty",
                );
            }
            if code.chars().count() > MAX_PRODUCT_CODE_CHARS {
                return invalid(
                    format!("browse_history[{i}].product_code"),
                    &format!("is longer than {MAX_PRODUCT_CODE_CHARS} characters"),
                );
            }
            if item.quantity < 0 {
                return invalid(
                    format!("browse_history[{i}].quantity"),
                    "must not be negative",
                );
            }
        }
        Ok(())
    }

    /// Distinct product codes of the browse history, in first-seen order.
    pub fn browsed_product_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = Vec::with_capacity(self.browse_history.len());
        for item in &self.browse_history {
            let code = item.product_code.trim();
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_owned());
            }
        }
        codes
    }
}

/// serde_json's message without the offending value: an `invalid type: string "Paris"`
/// message would otherwise copy personal data into the logs.
fn strip_values(error: &serde_json::Error) -> String {
    let message = error.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(head, _)| head);
    match message.split_once(": ") {
        Some((kind, rest))
            if message.starts_with("invalid type") || message.starts_with("invalid value") =>
        {
            // "invalid type: string \"x\", expected i64" -> "invalid type, expected i64"
            let expected = rest.rsplit_once(", expected ").map(|(_, e)| e);
            match expected {
                Some(e) => format!("{kind}, expected {e}"),
                None => kind.to_owned(),
            }
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_parser_keeps_serde_semantics() {
        let event = ClickEvent::from_json_slice(
            br#"{"z_extra":[1,{"a":null}],"session_id":"s","customer_number":7,"city":null,
                "credit_limit":5000,"browse_history":[],"a_extra":"x"}"#,
        )
        .unwrap();
        assert_eq!(event.city, None);
        assert_eq!(event.credit_limit, Some(5000.0));
        let line = serde_json::to_string(&event).unwrap();
        assert!(
            !line.contains("extra"),
            "unknown fields must not be kept: {line}"
        );
        let err = ClickEvent::from_json_slice(
            br#"{"session_id":"s","session_id":"t","customer_number":7,"browse_history":[]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("duplicate field `session_id`"), "{err}");
        let err = ClickEvent::from_json_slice(br#"{"session_id":"s","browse_history":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `customer_number`"), "{err}");
        let err = ClickEvent::from_json_slice(br#"["s", 7]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("click event object"), "{err}");
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "session_id": "s-1",
            "customer_number": 103,
            "city": "Nantes",
            "country": "France",
            "credit_limit": 21000.0,
            "browse_history": [
                {"product_code": "S10_1678", "quantity": 2, "in_shopping_cart": true},
                {"product_code": "S12_1099", "quantity": 1, "in_shopping_cart": false},
                {"product_code": "S10_1678", "quantity": 1, "in_shopping_cart": false}
            ],
            "event_id": "e-1",
            "campaign": {"name": "spring"}
        })
    }

    #[test]
    fn good_event_parses_and_skips_unknown_fields() {
        let bytes = serde_json::to_vec(&good()).unwrap();
        let event = ClickEvent::from_json_slice(&bytes).unwrap();
        assert_eq!(event.customer_number, 103);
        assert_eq!(event.browse_history.len(), 3);
        assert_eq!(event.browsed_product_codes(), vec!["S10_1678", "S12_1099"]);
        let round: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert!(round.get("campaign").is_none(), "{round}");
    }

    #[test]
    fn missing_field_is_named() {
        let mut v = good();
        v.as_object_mut().unwrap().remove("session_id");
        let err = ClickEvent::from_json_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("missing field `session_id`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_error_does_not_echo_the_value() {
        let mut v = good();
        v["customer_number"] = serde_json::json!("Nantes-secret");
        let err = ClickEvent::from_json_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("expected i64"), "{text}");
        assert!(!text.contains("Nantes-secret"), "{text}");
    }

    #[test]
    fn invalid_values_name_the_field() {
        let mut v = good();
        v["browse_history"][1]["product_code"] = serde_json::json!("  ");
        let err = ClickEvent::from_json_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(
            err,
            EventError::Invalid {
                field: "browse_history[1].product_code".into(),
                reason: "must not be empty".into()
            }
        );
        let mut v = good();
        v["credit_limit"] = serde_json::json!(-5.0);
        let err = ClickEvent::from_json_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, EventError::Invalid { ref field, .. } if field == "credit_limit"));
    }

    #[test]
    fn oversized_and_non_json_payloads_are_refused() {
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            ClickEvent::from_json_slice(&big),
            Err(EventError::TooLarge { .. })
        ));
        assert!(matches!(
            ClickEvent::from_json_slice(b"customer=103"),
            Err(EventError::NotJson { line: 1, .. })
        ));
    }
}
