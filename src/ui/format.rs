//! Text forms of values shown in the UI; the same on the server and in the browser, so hydration
//! matches.
//!
//! Dates are written field by field, not with chrono's `format`: its strftime interpreter was the
//! largest part of chrono in the WASM, for four fixed patterns.

use crate::model::format_duration;
use chrono::{DateTime, Datelike, Timelike, Utc};

/// "2026-03-10 14:03:07 UTC".
pub fn timestamp(at: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        second_and_millis(at).0
    )
}

/// The second of the minute (60 in a leap second, which chrono holds as 59 and a nanosecond count
/// past 10^9) and the milliseconds past it, as chrono's `%S` and `%.3f` print them.
fn second_and_millis(at: DateTime<Utc>) -> (u32, u32) {
    let nanos = at.nanosecond();
    (
        at.second() + nanos / 1_000_000_000,
        nanos % 1_000_000_000 / 1_000_000,
    )
}

/// "14:00": the hour a bucket of a trend starts.
pub fn hour(at: DateTime<Utc>) -> String {
    format!("{:02}:00", at.hour())
}

/// "Mar 10": the day a bucket of a trend starts.
pub fn month_day(at: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {:02}", MONTHS[at.month0() as usize], at.day())
}

pub fn percent(value: f32) -> String {
    format!("{:.0}%", value.clamp(0.0, 100.0))
}

/// "14:03:07.250": event times within one run are seconds apart, so milliseconds matter.
pub fn time_of_day(at: DateTime<Utc>) -> String {
    let (second, millis) = second_and_millis(at);
    format!(
        "{:02}:{:02}:{second:02}.{millis:03}",
        at.hour(),
        at.minute()
    )
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

    #[test]
    fn dates_read_as_chrono_formats_them() {
        let times = [
            "2026-03-10T14:03:07.250Z",
            "2026-01-01T00:00:00Z",
            "1999-12-31T23:59:59.999999Z",
            "2026-06-30T09:05:01.000500Z",
            // a leap second: chrono holds it as 59 s and 1,000+ ms
            "2016-12-31T23:59:60.500Z",
        ];
        for text in times {
            let at = text.parse::<DateTime<Utc>>().unwrap();
            assert_eq!(
                timestamp(at),
                at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            );
            assert_eq!(time_of_day(at), at.format("%H:%M:%S%.3f").to_string());
            assert_eq!(hour(at), at.format("%H:00").to_string());
            assert_eq!(month_day(at), at.format("%b %d").to_string());
        }
        let months = (1..=12).map(|m| {
            let at = format!("2026-{m:02}-07T00:00:00Z")
                .parse::<DateTime<Utc>>()
                .unwrap();
            month_day(at)
        });
        assert_eq!(
            months.collect::<Vec<_>>().join(","),
            "Jan 07,Feb 07,Mar 07,Apr 07,May 07,Jun 07,Jul 07,Aug 07,Sep 07,Oct 07,Nov 07,Dec 07"
        );
    }
}
