//! OpenTelemetry attributes as JSON, and the lookups the mapping makes in them. Every attribute is
//! kept; a string longer than a preview is cut to one (and named under `runwire.truncated`), and a
//! NUL, which PostgreSQL cannot store in text or jsonb, becomes U+FFFD.

use crate::model::SPAN_PREVIEW_MAX_CHARS;
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use serde_json::{Map, Number, Value};

/// Where a string was cut, under `runwire.truncated`.
pub const TRUNCATED_KEY: &str = "runwire.truncated";

/// Attributes as a JSON object, the later of two equal keys winning (as in the SDKs).
pub fn to_json(attributes: &[KeyValue]) -> Map<String, Value> {
    let mut truncated = Vec::new();
    let mut object = Map::with_capacity(attributes.len());
    for attribute in attributes {
        let key = storable(&attribute.key);
        let value = attribute.value.as_ref().map_or(Value::Null, |value| {
            any_to_json(value, &key, &mut truncated)
        });
        object.insert(key, value);
    }
    if !truncated.is_empty() {
        truncated.sort_unstable();
        truncated.dedup();
        object.insert(TRUNCATED_KEY.to_owned(), Value::from(truncated));
    }
    object
}

fn any_to_json(value: &AnyValue, key: &str, truncated: &mut Vec<String>) -> Value {
    match &value.value {
        None | Some(Any::StringValueStrindex(_)) => Value::Null,
        Some(Any::StringValue(text)) => {
            let kept = storable(text);
            match kept.char_indices().nth(SPAN_PREVIEW_MAX_CHARS) {
                Some((cut, _)) => {
                    truncated.push(key.to_owned());
                    Value::from(&kept[..cut])
                }
                None => Value::from(kept),
            }
        }
        Some(Any::BoolValue(flag)) => Value::from(*flag),
        Some(Any::IntValue(number)) => Value::from(*number),
        Some(Any::DoubleValue(number)) => {
            Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Some(Any::BytesValue(bytes)) => {
            Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(Any::ArrayValue(array)) => array
            .values
            .iter()
            .map(|item| any_to_json(item, key, truncated))
            .collect(),
        Some(Any::KvlistValue(list)) => Value::Object(
            list.values
                .iter()
                .map(|kv| {
                    let value = kv
                        .value
                        .as_ref()
                        .map_or(Value::Null, |v| any_to_json(v, key, truncated));
                    (storable(&kv.key), value)
                })
                .collect(),
        ),
    }
}

/// The text with each NUL replaced.
fn storable(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_owned()
    }
}

/// The first of `keys` the attributes hold as a non-empty string.
pub fn text<'a>(attributes: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|key| attributes.get(*key)?.as_str())
        .map(str::trim)
        .find(|text| !text.is_empty())
}

/// The first of `keys` the attributes hold, as text: a string as is, anything else as JSON.
pub fn content(attributes: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match attributes.get(*key)? {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    })
}

/// The first of `keys` the attributes hold, as a count: an integer, a whole double, or a string of
/// digits (as some instrumentations send). Err names the key holding something else.
pub fn count(attributes: &Map<String, Value>, keys: &[&str]) -> Result<Option<i64>, String> {
    for key in keys {
        let Some(value) = attributes.get(*key) else {
            continue;
        };
        let number = match value {
            Value::Number(number) => crate::model::whole(number),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        return match number {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(format!("`{key}` must be a whole number of at least 0")),
        };
    }
    Ok(None)
}

/// The first of `keys` the attributes hold as a number of at least 0.
pub fn amount(attributes: &Map<String, Value>, keys: &[&str]) -> Result<Option<f64>, String> {
    for key in keys {
        let Some(value) = attributes.get(*key) else {
            continue;
        };
        let number = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        return match number {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(format!("`{key}` must be a number of at least 0")),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        }
    }

    #[test]
    fn every_kind_of_value_becomes_json_and_long_strings_are_cut_and_named() {
        let long = "x".repeat(SPAN_PREVIEW_MAX_CHARS + 10);
        let nested = opentelemetry_proto::tonic::common::v1::KeyValueList {
            values: vec![kv("inner", Any::IntValue(3))],
        };
        let object = to_json(&[
            kv("s", Any::StringValue("a\0b".into())),
            kv("b", Any::BoolValue(true)),
            kv("i", Any::IntValue(-4)),
            kv("d", Any::DoubleValue(0.5)),
            kv("nan", Any::DoubleValue(f64::NAN)),
            kv("bytes", Any::BytesValue(vec![1, 2, 3])),
            kv(
                "list",
                Any::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Any::StringValue(long.clone())),
                    }],
                }),
            ),
            kv("map", Any::KvlistValue(nested)),
            kv("long", Any::StringValue(long)),
        ]);
        assert_eq!(object["s"], "a\u{FFFD}b");
        assert_eq!(object["b"], true);
        assert_eq!(object["i"], -4);
        assert_eq!(object["d"], 0.5);
        assert_eq!(object["nan"], Value::Null);
        assert_eq!(object["bytes"], "AQID");
        assert_eq!(object["map"]["inner"], 3);
        assert_eq!(
            object["long"].as_str().unwrap().len(),
            SPAN_PREVIEW_MAX_CHARS
        );
        assert_eq!(
            object["list"][0].as_str().unwrap().len(),
            SPAN_PREVIEW_MAX_CHARS
        );
        assert_eq!(object[TRUNCATED_KEY], serde_json::json!(["list", "long"]));
    }

    #[test]
    fn counts_take_the_first_key_present_and_refuse_what_is_not_a_count() {
        let attributes = to_json(&[
            kv("new", Any::IntValue(12)),
            kv("old", Any::IntValue(99)),
            kv("text", Any::StringValue("40".into())),
            kv("whole", Any::DoubleValue(7.0)),
            kv("negative", Any::IntValue(-1)),
            kv("fraction", Any::DoubleValue(1.5)),
        ]);
        assert_eq!(count(&attributes, &["missing", "new", "old"]), Ok(Some(12)));
        assert_eq!(count(&attributes, &["text"]), Ok(Some(40)));
        assert_eq!(count(&attributes, &["whole"]), Ok(Some(7)));
        assert_eq!(count(&attributes, &["missing"]), Ok(None));
        assert!(count(&attributes, &["negative"])
            .unwrap_err()
            .contains("negative"));
        assert!(count(&attributes, &["fraction"]).is_err());
        assert_eq!(amount(&attributes, &["whole"]), Ok(Some(7.0)));
        assert!(amount(&attributes, &["negative"]).is_err());
    }
}
