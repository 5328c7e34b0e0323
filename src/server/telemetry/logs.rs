//! Log output: readable lines by default, one JSON object per line with `RUNWIRE_LOG_FORMAT=json`
//! (for a log shipper). Either way a request's lines carry its `request_id`; `RUST_LOG` filters.

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `RUNWIRE_LOG_FORMAT`: `text` (or empty) or `json`.
    pub fn parse(value: &str) -> Result<LogFormat, String> {
        match value.trim() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "RUNWIRE_LOG_FORMAT must be `text` or `json`, not `{other}`"
            )),
        }
    }
}

/// Installs the process's log subscriber.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        // The span list names the request each line belongs to (its id, method and path).
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .init(),
    }
}
