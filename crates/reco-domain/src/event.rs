//! The click event the front end puts on Kinesis, and its validation.
//!
//! Contract (DESIGN.md): UTF-8 JSON with `session_id`, `customer_number`, `city`, `country`,
//! `credit_limit`, `browse_history[{product_code, quantity, in_shopping_cart}]`, optional
//! `event_id` and `event_time`. Unknown fields are accepted and skipped: nothing the
//! contract does not name reaches an output (the recommendation record copies only the
//! event's identifiers: [`crate::recommendation::RecordEvent`]).
//!
//! Version 2 adds optional fields, so every version 1 event parses as before (a `view`):
//! - `event_type`: `view` (the default), `add_to_cart`, `purchase`, `rec_impression`,
//!   `rec_click` ([`EventType`]); any other value refuses the event;
//! - `item`: the product the event is about (added, bought, shown or clicked); required for
//!   every type but `view`;
//! - `recommendation_id`: the recommendation shown or clicked; required for `rec_impression`
//!   and `rec_click`;
//! - `experiment`, `variant`: copied by the front end from the recommendation document it
//!   showed (A/B reports group by them);
//! - `browse_history` stays required for `view` and may be absent (empty) for other types.

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

/// What a click event records ([`ClickEvent::event_type`]; `view` when the field is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A product page view (every version 1 event).
    #[default]
    View,
    /// A product put in the cart.
    AddToCart,
    /// A product bought.
    Purchase,
    /// A recommended product shown to the customer.
    RecImpression,
    /// A recommended product clicked.
    RecClick,
}

impl EventType {
    /// Every type, in contract order.
    pub const ALL: [EventType; 5] = [
        EventType::View,
        EventType::AddToCart,
        EventType::Purchase,
        EventType::RecImpression,
        EventType::RecClick,
    ];

    /// The contract's name of the type (`view`, `add_to_cart`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::View => "view",
            EventType::AddToCart => "add_to_cart",
            EventType::Purchase => "purchase",
            EventType::RecImpression => "rec_impression",
            EventType::RecClick => "rec_click",
        }
    }

    /// Whether this is a `view`.
    pub fn is_view(&self) -> bool {
        *self == EventType::View
    }

    /// Whether the event must name its `item`.
    pub fn requires_item(self) -> bool {
        self != EventType::View
    }

    /// Whether the event must name the `recommendation_id` it is about.
    pub fn requires_recommendation_id(self) -> bool {
        matches!(self, EventType::RecImpression | EventType::RecClick)
    }

    /// Whether the transform answers the event with recommendations (every type but
    /// `rec_impression`, which only records what was shown).
    pub fn recommends(self) -> bool {
        self != EventType::RecImpression
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event type (expected one of {})",
                    EventType::ALL.map(EventType::as_str).join(", ")
                )
            })
    }
}

/// Longest `recommendation_id`, `experiment` or `variant` accepted (the transform's ids are
/// 32 hex digits; experiment names are short).
pub const MAX_LABEL_CHARS: usize = 128;

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
    /// What the event records (`view` when absent; not written for a view, so a version 1
    /// event serialises as before).
    #[serde(default, skip_serializing_if = "EventType::is_view")]
    pub event_type: EventType,
    /// The product the event is about (required for every type but `view`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The recommendation shown or clicked (required for `rec_impression` and `rec_click`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    /// The experiment of the recommendation shown, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The experiment's variant of the recommendation shown, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
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
    EventType,
    Item,
    RecommendationId,
    Experiment,
    Variant,
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
                    "event_type" => EventKey::EventType,
                    "item" => EventKey::Item,
                    "recommendation_id" => EventKey::RecommendationId,
                    "experiment" => EventKey::Experiment,
                    "variant" => EventKey::Variant,
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
        let mut event_type: Option<Option<String>> = None;
        let mut item = None;
        let mut recommendation_id = None;
        let mut experiment = None;
        let mut variant = None;
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
                EventKey::EventType => set_once(&mut event_type, map.next_value()?, "event_type")?,
                EventKey::Item => set_once(&mut item, map.next_value()?, "item")?,
                EventKey::RecommendationId => set_once(
                    &mut recommendation_id,
                    map.next_value()?,
                    "recommendation_id",
                )?,
                EventKey::Experiment => set_once(&mut experiment, map.next_value()?, "experiment")?,
                EventKey::Variant => set_once(&mut variant, map.next_value()?, "variant")?,
                EventKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        use serde::de::Error as _;
        // The value is not echoed: the error names the field and the accepted values.
        let event_type = match event_type.flatten() {
            None => EventType::View,
            Some(name) => name
                .parse::<EventType>()
                .map_err(|reason| A::Error::custom(format!("event_type: {reason}")))?,
        };
        // A view without a browse history is a version 1 event missing its field; the other
        // types may leave it out.
        let browse_history: Option<Vec<BrowsedItem>> = browse_history;
        let browse_history = match browse_history {
            Some(history) => history,
            None if event_type != EventType::View => Vec::new(),
            None => return Err(A::Error::missing_field("browse_history")),
        };
        Ok(ClickEvent {
            session_id: session_id.ok_or_else(|| A::Error::missing_field("session_id"))?,
            customer_number: customer_number
                .ok_or_else(|| A::Error::missing_field("customer_number"))?,
            city: city.flatten(),
            country: country.flatten(),
            credit_limit: credit_limit.flatten(),
            browse_history,
            event_id: event_id.flatten(),
            event_time: event_time.flatten(),
            event_type,
            item: item.flatten(),
            recommendation_id: recommendation_id.flatten(),
            experiment: experiment.flatten(),
            variant: variant.flatten(),
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
        let kind = self.event_type;
        match &self.item {
            None if kind.requires_item() => {
                return invalid("item".into(), &format!("is required for {kind} events"));
            }
            None => {}
            Some(code) => {
                check_product_code(code).or_else(|reason| invalid("item".into(), reason))?
            }
        }
        match &self.recommendation_id {
            None if kind.requires_recommendation_id() => {
                return invalid(
                    "recommendation_id".into(),
                    &format!("is required for {kind} events"),
                );
            }
            None => {}
            Some(id) => {
                check_label(id).or_else(|reason| invalid("recommendation_id".into(), reason))?
            }
        }
        for (field, value) in [("experiment", &self.experiment), ("variant", &self.variant)] {
            if let Some(value) = value {
                check_label(value).or_else(|reason| invalid(field.into(), reason))?;
            }
        }
        for (i, item) in self.browse_history.iter().enumerate() {
            check_product_code(&item.product_code)
                .or_else(|reason| invalid(format!("browse_history[{i}].product_code"), reason))?;
            if item.quantity < 0 {
                return invalid(
                    format!("browse_history[{i}].quantity"),
                    "must not be negative",
                );
            }
        }
        Ok(())
    }

    /// Distinct product codes of the session as the transform sees them: the browse history's,
    /// then the event's `item` as the newest when the history does not already hold it.
    pub fn session_product_codes(&self) -> Vec<String> {
        let mut codes = self.browsed_product_codes();
        if let Some(item) = &self.item {
            let item = item.trim();
            if !codes.iter().any(|c| c == item) {
                codes.push(item.to_owned());
            }
        }
        codes
    }

    /// Codes of the browse history's items that are in the shopping cart, each once, in
    /// first-seen order.
    pub fn cart_product_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = Vec::new();
        for item in self.browse_history.iter().filter(|i| i.in_shopping_cart) {
            let code = item.product_code.trim();
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_owned());
            }
        }
        codes
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

/// A product code's rule: not blank, at most [`MAX_PRODUCT_CODE_CHARS`] characters.
fn check_product_code(code: &str) -> Result<(), &'static str> {
    let code = code.trim();
    if code.is_empty() {
        return Err("must not be empty");
    }
    if code.chars().count() > MAX_PRODUCT_CODE_CHARS {
        return Err(PRODUCT_CODE_TOO_LONG);
    }
    Ok(())
}

const PRODUCT_CODE_TOO_LONG: &str = "is longer than 64 characters";
const _: () = assert!(MAX_PRODUCT_CODE_CHARS == 64, "update PRODUCT_CODE_TOO_LONG");

/// An identifier's or label's rule: not blank, at most [`MAX_LABEL_CHARS`] characters.
fn check_label(value: &str) -> Result<(), &'static str> {
    if value.trim().is_empty() {
        return Err("must not be empty");
    }
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err("is longer than 128 characters");
    }
    Ok(())
}
const _: () = assert!(MAX_LABEL_CHARS == 128, "update check_label's message");

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

    /// The transform Lambda's event fixtures (version 1 events) parse or fail exactly as
    /// before: every good one is a view without the version 2 fields.
    #[test]
    fn version_1_fixtures_parse_as_views() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../reco-transform-lambda/tests/fixtures/events");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        for name in [
            "good.json",
            "empty-browse-history.json",
            "unknown-customer.json",
            "unknown-products.json",
        ] {
            let event = ClickEvent::from_json_slice(&read(name)).unwrap();
            assert_eq!(event.event_type, EventType::View, "{name}");
            assert_eq!(
                (
                    &event.item,
                    &event.recommendation_id,
                    &event.experiment,
                    &event.variant
                ),
                (&None, &None, &None, &None),
                "{name}"
            );
            let json = serde_json::to_value(&event).unwrap();
            assert!(json.get("event_type").is_none(), "{name}: {json}");
            assert!(json.get("item").is_none(), "{name}: {json}");
        }
        assert!(matches!(
            ClickEvent::from_json_slice(&read("invalid-product-code.json")),
            Err(EventError::Invalid { .. })
        ));
        assert!(matches!(
            ClickEvent::from_json_slice(&read("missing-fields.json")),
            Err(EventError::NotJson { .. })
        ));
    }

    #[test]
    fn each_version_2_type_parses_with_its_fields() {
        for kind in EventType::ALL {
            let mut v = serde_json::json!({
                "session_id": "s", "customer_number": 7, "event_type": kind.as_str(),
                "item": "S10_1678", "recommendation_id": "0123abcd",
                "experiment": "towers-v2", "variant": "treatment"
            });
            if kind == EventType::View {
                v["browse_history"] = serde_json::json!([]);
            }
            let event = ClickEvent::from_json_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
            assert_eq!(event.event_type, kind);
            assert_eq!(event.item.as_deref(), Some("S10_1678"));
            assert_eq!(event.recommendation_id.as_deref(), Some("0123abcd"));
            assert_eq!(event.variant.as_deref(), Some("treatment"));
            assert!(event.browse_history.is_empty());
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            // Serialising and parsing again gives the same event.
            let again = ClickEvent::from_json_slice(&serde_json::to_vec(&event).unwrap());
            assert_eq!(again.as_ref(), Ok(&event));
        }
        // A null type is the default, like an absent one.
        let event = ClickEvent::from_json_slice(
            br#"{"session_id":"s","customer_number":7,"event_type":null,"browse_history":[]}"#,
        )
        .unwrap();
        assert_eq!(event.event_type, EventType::View);
        // The item joins the session's codes once, as the newest.
        let event = ClickEvent::from_json_slice(
            br#"{"session_id":"s","customer_number":7,"event_type":"add_to_cart","item":" P2 ",
                 "browse_history":[{"product_code":"P1","in_shopping_cart":true},{"product_code":"P2"}]}"#,
        )
        .unwrap();
        assert_eq!(event.session_product_codes(), ["P1", "P2"]);
        assert_eq!(event.cart_product_codes(), ["P1"]);
        let event = ClickEvent {
            item: Some("P3".into()),
            ..event
        };
        assert_eq!(event.session_product_codes(), ["P1", "P2", "P3"]);
    }

    #[test]
    fn version_2_refusals_name_the_field() {
        let refuse = |json: serde_json::Value| {
            ClickEvent::from_json_slice(&serde_json::to_vec(&json).unwrap()).unwrap_err()
        };
        // Unknown type: refused, the value is not echoed.
        let err = refuse(serde_json::json!({
            "session_id": "s", "customer_number": 7, "event_type": "wishlist-secret",
            "browse_history": []
        }))
        .to_string();
        assert!(err.contains("event_type: unknown event type"), "{err}");
        assert!(err.contains("rec_click"), "{err}");
        assert!(!err.contains("wishlist-secret"), "{err}");
        // A view still needs its history; the other types do not.
        let err = refuse(serde_json::json!({"session_id": "s", "customer_number": 7}));
        assert!(
            err.to_string().contains("missing field `browse_history`"),
            "{err}"
        );
        let field = |json: serde_json::Value| match refuse(json) {
            EventError::Invalid { field, reason } => format!("{field}: {reason}"),
            other => panic!("{other}"),
        };
        let base = |kind: &str| {
            serde_json::json!({"session_id": "s", "customer_number": 7, "event_type": kind,
                               "item": "P1", "recommendation_id": "r"})
        };
        for kind in ["add_to_cart", "purchase", "rec_impression", "rec_click"] {
            let mut v = base(kind);
            v.as_object_mut().unwrap().remove("item");
            assert_eq!(field(v), format!("item: is required for {kind} events"));
        }
        for kind in ["rec_impression", "rec_click"] {
            let mut v = base(kind);
            v.as_object_mut().unwrap().remove("recommendation_id");
            assert_eq!(
                field(v),
                format!("recommendation_id: is required for {kind} events")
            );
        }
        let mut v = base("purchase");
        v["item"] = serde_json::json!("x".repeat(MAX_PRODUCT_CODE_CHARS + 1));
        assert_eq!(field(v), "item: is longer than 64 characters");
        let mut v = base("purchase");
        v["item"] = serde_json::json!(" ");
        assert_eq!(field(v), "item: must not be empty");
        let mut v = base("rec_click");
        v["variant"] = serde_json::json!("v".repeat(MAX_LABEL_CHARS + 1));
        assert_eq!(field(v), "variant: is longer than 128 characters");
        let mut v = base("rec_click");
        v["recommendation_id"] = serde_json::json!("");
        assert_eq!(field(v), "recommendation_id: must not be empty");
        let mut v = base("rec_click");
        v["item"] = serde_json::json!(5);
        assert!(matches!(refuse(v), EventError::NotJson { .. }));
    }
}
