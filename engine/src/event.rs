//! The engine's event: what a login or statistic update looks like once the transport (gRPC,
//! REST, a rule test) has validated it. Built once per event, read by every matching goal.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{Dynamic, ImmutableString};

use crate::ids::UserId;
pub use crate::model::EventKind;

/// The fields of an event.
#[derive(Debug, Clone)]
pub struct EventData {
    /// The producer's event id; redelivery of the same id must not count twice.
    pub id: String,
    pub kind: EventKind,
    pub user_id: UserId,
    pub namespace: String,
    pub timestamp: DateTime<Utc>,
    /// The timestamp the producer sent, if it sent one. Every redelivery of an event carries the
    /// same, so it is part of the event's dedup key (with the user and the id); an event sent
    /// without one is keyed by the user and the id alone.
    pub sent_at: Option<DateTime<Utc>>,
    /// Stat code (stat events only).
    pub stat_code: Option<String>,
    /// The stat's latest value, truncated toward zero.
    pub value: i64,
    /// The increase this update made, truncated toward zero.
    pub inc: i64,
    /// Free-form payload (the statistic's `additional_data`).
    pub additional: Payload,
}

/// An event's free-form payload (a statistic's `additional_data`): JSON values (numbers,
/// strings, booleans, lists, maps, null), held in the form expressions read, so no crate but the
/// engine names the expression language's types.
#[derive(Debug, Clone, Default)]
pub struct Payload(rhai::Map);

impl Payload {
    /// The payload as JSON (for the event archive, simulate's traces): numbers, strings,
    /// booleans, lists and maps as they are; `()` as null.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(key, value)| (key.to_string(), dynamic_to_json(value)))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A JSON object as a payload, taking its strings as they are.
impl From<serde_json::Map<String, serde_json::Value>> for Payload {
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        Self(
            map.into_iter()
                .map(|(key, value)| (key.into(), json_into_dynamic(value)))
                .collect(),
        )
    }
}

/// An event ready for evaluation: its fields plus the view Rhai expressions read, built once.
#[derive(Debug, Clone)]
pub struct Event {
    data: Arc<EventData>,
    pub(crate) rhai: Dynamic,
}

impl Event {
    pub fn new(data: EventData) -> Self {
        let view = RhaiEvent {
            kind: data.kind.as_str().into(),
            id: data.id.as_str().into(),
            user_id: data.user_id.as_str().into(),
            namespace: data.namespace.as_str().into(),
            timestamp: data.timestamp.timestamp(),
            stat_code: data.stat_code.as_deref().map_or(Dynamic::UNIT, |code| {
                Dynamic::from(ImmutableString::from(code))
            }),
            value: data.value,
            inc: data.inc,
            // Shared, so reading `event.additional` hands out a reference, not a deep copy; and
            // read-only all the way down, so one goal's expression cannot change what the next
            // one reads (`event.additional.remove("mode")` is an evaluation error).
            additional: read_only(Dynamic::from_map(data.additional.0.clone())).into_shared(),
        };
        Self {
            data: Arc::new(data),
            rhai: Dynamic::from(view),
        }
    }

    /// Calls `read` with the payload's value at `path` (`["mode"]`, `["stats", "kills"]`), if
    /// there is one (without copying it: this runs after every false predicate).
    pub(crate) fn with_additional<T>(
        &self,
        path: &[String],
        read: impl FnOnce(&Dynamic) -> Option<T>,
    ) -> Option<T> {
        let (first, rest) = path.split_first()?;
        let value = self.additional.0.get(first.as_str())?;
        if rest.is_empty() {
            return read(value);
        }
        let mut value = value.clone();
        for key in rest {
            let map = value.try_cast::<rhai::Map>()?;
            value = map.get(key.as_str())?.clone();
        }
        read(&value)
    }

    /// The payload as JSON (for the event archive): numbers, strings, booleans, lists and maps
    /// as they are; `()` as null.
    pub fn additional_json(&self) -> serde_json::Value {
        self.additional.to_json()
    }
}

/// A JSON payload (a REST event's `additional`, an archived event's payload), none being
/// empty: the inverse of [`Event::additional_json`].
pub fn payload_from_json(map: Option<&serde_json::Map<String, serde_json::Value>>) -> Payload {
    map.cloned().map(Payload::from).unwrap_or_default()
}

fn json_into_dynamic(value: serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(flag) => flag.into(),
        Value::Number(number) => match number.as_i64() {
            Some(int) => int.into(),
            None => number.as_f64().unwrap_or(0.0).into(),
        },
        Value::String(text) => text.into(),
        Value::Array(items) => {
            Dynamic::from_array(items.into_iter().map(json_into_dynamic).collect())
        }
        Value::Object(map) => Dynamic::from_map(Payload::from(map).0),
    }
}

fn dynamic_to_json(value: &Dynamic) -> serde_json::Value {
    use serde_json::Value;
    if value.is_unit() {
        Value::Null
    } else if let Ok(flag) = value.as_bool() {
        Value::Bool(flag)
    } else if let Ok(int) = value.as_int() {
        Value::from(int)
    } else if let Ok(float) = value.as_float() {
        serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
    } else if value.is_string() {
        Value::String(value.to_string())
    } else if value.is_array() {
        let items: rhai::Array = value.clone().cast();
        Value::Array(items.iter().map(dynamic_to_json).collect())
    } else if value.is_map() {
        let map: rhai::Map = value.clone().cast();
        Value::Object(
            map.iter()
                .map(|(key, value)| (key.to_string(), dynamic_to_json(value)))
                .collect(),
        )
    } else {
        Value::String(value.to_string())
    }
}

/// `value` and every map and array inside it, made read-only: a non-pure method called on any
/// of them fails instead of changing it.
fn read_only(value: Dynamic) -> Dynamic {
    if value.is_map() {
        let map: rhai::Map = value.cast();
        let map = map.into_iter().map(|(k, v)| (k, read_only(v))).collect();
        Dynamic::from_map(map).into_read_only()
    } else if value.is_array() {
        let array: rhai::Array = value.cast();
        Dynamic::from_array(array.into_iter().map(read_only).collect()).into_read_only()
    } else {
        value.into_read_only()
    }
}

impl Deref for Event {
    type Target = EventData;

    fn deref(&self) -> &EventData {
        &self.data
    }
}

/// What `event` is inside a Rhai expression. Its properties are fixed: reading one that does
/// not exist is an error, not a silent `()`.
#[derive(Debug, Clone)]
pub(crate) struct RhaiEvent {
    pub kind: ImmutableString,
    pub id: ImmutableString,
    pub user_id: ImmutableString,
    pub namespace: ImmutableString,
    pub timestamp: i64,
    pub stat_code: Dynamic,
    pub value: i64,
    pub inc: i64,
    pub additional: Dynamic,
}

/// The properties of `event` in Rhai, as designers read them in the DSL reference.
pub const EVENT_PROPERTIES: [&str; 9] = [
    "kind",
    "id",
    "user_id",
    "namespace",
    "timestamp",
    "stat_code",
    "value",
    "inc",
    "additional",
];
