//! Text forms of values shown in the UI; the same on the server and in the browser, so hydration
//! matches.

use chrono::{DateTime, Utc};

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn percent(value: f32) -> String {
    format!("{:.0}%", value.clamp(0.0, 100.0))
}
