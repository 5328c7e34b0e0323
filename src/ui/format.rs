//! Text forms of values shown in the UI; the same on the server and in the browser, so hydration
//! matches.

use crate::model::format_duration;
use chrono::{DateTime, Utc};

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn percent(value: f32) -> String {
    format!("{:.0}%", value.clamp(0.0, 100.0))
}

/// "14:03:07.250": event times within one run are seconds apart, so milliseconds matter.
pub fn time_of_day(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S%.3f").to_string()
}

/// A JSON value indented for reading.
pub fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A share in 0..=1 as "66.7%", or "—" when there is none (nothing finished yet).
pub fn rate(share: Option<f64>) -> String {
    share
        .map(|share| format!("{:.1}%", share * 100.0))
        .unwrap_or_else(|| "—".to_owned())
}

/// A mean duration in seconds as "3m 07s", or "—" when there is none.
pub fn mean_duration(seconds: Option<f64>) -> String {
    seconds
        .map(|s| format_duration(chrono::Duration::milliseconds((s * 1000.0) as i64)))
        .unwrap_or_else(|| "—".to_owned())
}
