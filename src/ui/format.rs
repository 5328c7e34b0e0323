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

/// A token count with thousands separators ("12,345"), or "—" when unknown.
pub fn tokens(count: Option<i64>) -> String {
    let Some(count) = count else {
        return "—".to_owned();
    };
    let digits = count.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (n, digit) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if count < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// A cost in US dollars ("$0.0123", "$12.40"), or "—" when unknown: an unknown cost is never 0.
pub fn cost(usd: Option<f64>) -> String {
    match usd {
        None => "—".to_owned(),
        Some(usd) if usd != 0.0 && usd.abs() < 0.01 => format!("${usd:.4}"),
        Some(usd) => format!("${usd:.2}"),
    }
}

/// A span's latency: "850 ms" under ten seconds' worth of milliseconds, else "12.4 s".
pub fn latency(ms: i64) -> String {
    if ms < 10_000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// "1,050 in · 205 out", or "—" before any LLM call reported its tokens.
pub fn token_totals(tokens_in: Option<i64>, tokens_out: Option<i64>) -> String {
    if tokens_in.is_none() && tokens_out.is_none() {
        return "—".to_owned();
    }
    format!("{} in · {} out", tokens(tokens_in), tokens(tokens_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_costs_and_latencies_read_well_and_unknown_is_a_dash() {
        assert_eq!(tokens(Some(0)), "0");
        assert_eq!(tokens(Some(999)), "999");
        assert_eq!(tokens(Some(1_050)), "1,050");
        assert_eq!(tokens(Some(12_345_678)), "12,345,678");
        assert_eq!(tokens(None), "—");
        assert_eq!(cost(None), "—");
        assert_eq!(cost(Some(0.0)), "$0.00");
        assert_eq!(cost(Some(0.001234)), "$0.0012");
        assert_eq!(cost(Some(12.4)), "$12.40");
        assert_eq!(latency(850), "850 ms");
        assert_eq!(latency(12_400), "12.4 s");
    }
}
