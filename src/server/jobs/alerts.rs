//! Failure alerts: when a run fails, or an agent's failure rate over the last 24 h passes a
//! threshold, a Slack-compatible JSON message is POSTed to the configured webhook, with retries.
//! Every replica sees every failure; each alert is claimed in `alerts_sent` first, so exactly one
//! replica sends it, and an agent's rate is reported at most once per hour.

use crate::model::{AgentRun, RunEventKind};
use crate::server::bus::EventBus;
use crate::server::db::{begin_scoped, Principal};
use crate::server::jobs::store;
use crate::server::telemetry::ALERTS;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct AlertConfig {
    /// Where alerts go; None: alerting is off.
    pub webhook: Option<String>,
    /// An agent's failed / finished share over 24 h above which it is reported.
    pub failure_rate: f64,
    /// Finished runs an agent needs in the window before its rate means anything.
    pub min_finished: i64,
    /// Tries after the first that failed.
    pub retries: u32,
    pub first_backoff: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            webhook: None,
            failure_rate: 0.5,
            min_finished: 5,
            retries: 3,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// Why a delivery gave up.
#[derive(Debug, thiserror::Error)]
#[error("alert not delivered after {attempts} attempt(s): {last_error}")]
pub struct DeliveryFailed {
    pub attempts: u32,
    pub last_error: String,
}

pub struct Alerter {
    config: AlertConfig,
    client: reqwest::Client,
}

impl Alerter {
    pub fn new(config: AlertConfig) -> Arc<Alerter> {
        Arc::new(Alerter {
            config,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS settings builds"),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.webhook.is_some()
    }

    /// Watches the event hub for failed runs (when a webhook is configured).
    pub fn start(self: &Arc<Self>, bus: Arc<EventBus>, pool: PgPool) {
        if !self.enabled() {
            return;
        }
        let alerter = Arc::clone(self);
        tokio::spawn(async move {
            let (mut events, _) = bus.subscribe();
            loop {
                match events.recv().await {
                    Ok(event) if event.event.kind == RunEventKind::Failed => {
                        let alerter = Arc::clone(&alerter);
                        let pool = pool.clone();
                        let run = event.run.run.clone();
                        // deliveries retry with backoff: never hold up the next event
                        tokio::spawn(async move { alerter.on_failure(&pool, &run).await });
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => {}
                }
            }
        });
    }

    /// Sends the alerts a failed run calls for (those no other replica claimed); returns how many
    /// were delivered.
    pub async fn on_failure(&self, pool: &PgPool, run: &AgentRun) -> usize {
        let mut delivered = 0;
        let key = format!("run-failed:{}", run.id);
        if claim(pool, &key).await && self.send(&run_failed(run)).await.is_ok() {
            delivered += 1;
        }
        match self.failure_rate(pool, run).await {
            Ok(Some((failed, finished))) => {
                let hour = chrono::Utc::now().format("%Y-%m-%dT%H");
                let key = format!("failure-rate:{}:{}:{hour}", run.user_id, run.agent_name);
                if claim(pool, &key).await
                    && self
                        .send(&rate_exceeded(run, failed, finished))
                        .await
                        .is_ok()
                {
                    delivered += 1;
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!("alerts: reading the failure rate: {err}"),
        }
        delivered
    }

    /// (failed, finished) of the run's agent over 24 h when its rate is above the threshold.
    async fn failure_rate(
        &self,
        pool: &PgPool,
        run: &AgentRun,
    ) -> Result<Option<(i64, i64)>, sqlx::Error> {
        let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
        let (failed, finished) =
            store::agent_outcomes_last_day(&mut tx, run.user_id, &run.agent_name).await?;
        tx.commit().await?;
        let above = finished >= self.config.min_finished
            && failed as f64 / finished as f64 > self.config.failure_rate;
        Ok(above.then_some((failed, finished)))
    }

    /// POSTs `body` to the webhook, retrying with doubling backoff; returns the attempts it took.
    pub async fn send(&self, body: &Value) -> Result<u32, DeliveryFailed> {
        let Some(url) = &self.config.webhook else {
            return Ok(0);
        };
        let mut backoff = self.config.first_backoff;
        let mut last_error = String::new();
        for attempt in 1..=self.config.retries + 1 {
            match self.client.post(url).json(body).send().await {
                Ok(response) if response.status().is_success() => {
                    metrics::counter!(ALERTS, "outcome" => "sent").increment(1);
                    return Ok(attempt);
                }
                Ok(response) => last_error = format!("HTTP {}", response.status()),
                // The webhook URL is a secret (Slack's carry the credential in the path): never
                // let it into an error message or a log line.
                Err(err) => last_error = err.without_url().to_string(),
            }
            if attempt <= self.config.retries {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::warn!("alerts: {last_error}; giving up");
        metrics::counter!(ALERTS, "outcome" => "failed").increment(1);
        Err(DeliveryFailed {
            attempts: self.config.retries + 1,
            last_error,
        })
    }
}

/// Claims an alert for this replica; false when another replica (or an earlier event) has it.
async fn claim(pool: &PgPool, key: &str) -> bool {
    let claimed = async {
        let mut tx = begin_scoped(pool, Principal::SYSTEM).await?;
        let claimed = store::claim_alert(&mut tx, key).await?;
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(claimed)
    };
    claimed.await.unwrap_or_else(|err| {
        tracing::warn!("alerts: claiming {key}: {err}");
        false
    })
}

/// Tenant text made inert for Slack's markup: `<`, `>` and `&` are its control characters (`<!channel>`
/// mentions everyone, `<http://evil|Your bank>` disguises a link), so they are sent escaped.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn run_failed(run: &AgentRun) -> Value {
    let agent = slack_escape(&run.agent_name);
    let error = slack_escape(run.error.as_deref().unwrap_or("no error message"));
    json!({
        "text": format!(":red_circle: Run of `{agent}` failed: {error}"),
        "attachments": [{
            "color": "danger",
            "fields": [
                { "title": "Agent", "value": agent, "short": true },
                { "title": "Run", "value": run.id.to_string(), "short": true },
                { "title": "Task", "value": slack_escape(&run.task_excerpt(200)), "short": false },
                { "title": "Error", "value": error, "short": false },
            ],
        }],
    })
}

fn rate_exceeded(run: &AgentRun, failed: i64, finished: i64) -> Value {
    let rate = failed as f64 / finished as f64 * 100.0;
    let agent = slack_escape(&run.agent_name);
    json!({
        "text": format!(
            ":warning: `{agent}` failed {failed} of its last {finished} runs in 24 h ({rate:.0}%)"
        ),
        "attachments": [{
            "color": "warning",
            "fields": [
                { "title": "Agent", "value": agent, "short": true },
                { "title": "Failure rate (24 h)", "value": format!("{rate:.0}%"), "short": true },
            ],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_cannot_mention_a_channel_or_disguise_a_link() {
        let mut run: AgentRun = serde_json::from_value(json!({
            "id": uuid::Uuid::nil(), "task_id": uuid::Uuid::nil(), "user_id": uuid::Uuid::nil(),
            "agent_name": "<!channel>", "task": "<http://evil.example|Your bank> & co",
            "status": "failed", "progress_percent": 0.0, "current_step": null, "attempt": 1,
            "result": null, "error": "<!here> boom", "verification_evidence": [], "metadata": {},
            "tokens_in": null, "tokens_out": null, "cost_usd": null,
            "created_at": "2026-01-01T00:00:00Z", "started_at": null,
            "completed_at": "2026-01-01T00:00:01Z", "updated_at": "2026-01-01T00:00:01Z"
        }))
        .unwrap();
        let message = run_failed(&run).to_string();
        for raw in [
            "<!channel>",
            "<!here>",
            "<http://evil.example|Your bank>",
            " & co",
        ] {
            assert!(!message.contains(raw), "{raw} in {message}");
        }
        assert!(message.contains("&lt;!channel&gt;"));
        assert!(message.contains("&amp; co"));
        run.agent_name = "a<b".into();
        assert!(rate_exceeded(&run, 3, 4).to_string().contains("a&lt;b"));
    }
}
