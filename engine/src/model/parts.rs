//! Parts of the file format shared by several keys: localized text, declared payloads, days
//! of the week.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What one stat's events carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatDef {
    /// The `additional` fields and their types, e.g. `{ mode: string, weekend: bool }`.
    #[serde(default)]
    pub additional: BTreeMap<String, FieldType>,
}

/// The type of a payload field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Bool,
    List,
    Map,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            FieldType::List => "list",
            FieldType::Map => "map",
        }
    }
}

/// Text shown to players: one string, or one per locale (`{en: "Win 3", de: "Gewinne 3"}`,
/// BCP 47 language tags); answers pick the best match for the player's `Accept-Language`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TextDef {
    Plain(String),
    Localized(BTreeMap<String, String>),
}

impl Default for TextDef {
    fn default() -> Self {
        TextDef::Plain(String::new())
    }
}

impl TextDef {
    pub fn is_empty(&self) -> bool {
        match self {
            TextDef::Plain(text) => text.is_empty(),
            TextDef::Localized(texts) => texts.is_empty(),
        }
    }
}

impl From<String> for TextDef {
    fn from(text: String) -> Self {
        TextDef::Plain(text)
    }
}

/// A day of the week: `mon` … `sun` (also `Sat`, `SAT`, `saturday`, `Saturday`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DayName {
    #[serde(
        alias = "Mon",
        alias = "MON",
        alias = "monday",
        alias = "Monday",
        alias = "MONDAY"
    )]
    Mon,
    #[serde(
        alias = "Tue",
        alias = "TUE",
        alias = "tuesday",
        alias = "Tuesday",
        alias = "TUESDAY"
    )]
    Tue,
    #[serde(
        alias = "Wed",
        alias = "WED",
        alias = "wednesday",
        alias = "Wednesday",
        alias = "WEDNESDAY"
    )]
    Wed,
    #[serde(
        alias = "Thu",
        alias = "THU",
        alias = "thursday",
        alias = "Thursday",
        alias = "THURSDAY"
    )]
    Thu,
    #[serde(
        alias = "Fri",
        alias = "FRI",
        alias = "friday",
        alias = "Friday",
        alias = "FRIDAY"
    )]
    Fri,
    #[serde(
        alias = "Sat",
        alias = "SAT",
        alias = "saturday",
        alias = "Saturday",
        alias = "SATURDAY"
    )]
    Sat,
    #[serde(
        alias = "Sun",
        alias = "SUN",
        alias = "sunday",
        alias = "Sunday",
        alias = "SUNDAY"
    )]
    Sun,
}

impl DayName {
    pub fn weekday(self) -> chrono::Weekday {
        match self {
            DayName::Mon => chrono::Weekday::Mon,
            DayName::Tue => chrono::Weekday::Tue,
            DayName::Wed => chrono::Weekday::Wed,
            DayName::Thu => chrono::Weekday::Thu,
            DayName::Fri => chrono::Weekday::Fri,
            DayName::Sat => chrono::Weekday::Sat,
            DayName::Sun => chrono::Weekday::Sun,
        }
    }
}
