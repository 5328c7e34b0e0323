//! One ticking clock per page, for elapsed times of running runs. It is None on the server and until
//! the page is hydrated, so the server's HTML and the first browser render agree.

use crate::model::{format_duration, AgentRun};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Clock(pub Signal<Option<DateTime<Utc>>>);

impl Clock {
    pub fn provide() {
        let now = RwSignal::new(None::<DateTime<Utc>>);
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            now.set(Some(Utc::now()));
            let interval =
                gloo_timers::callback::Interval::new(1_000, move || now.set(Some(Utc::now())));
            // The clock lives as long as the app: the interval must never be dropped.
            std::mem::forget(interval);
        });
        provide_context(Clock(now.into()));
    }

    pub fn now() -> Signal<Option<DateTime<Utc>>> {
        use_context::<Clock>()
            .map(|clock| clock.0)
            .unwrap_or_else(|| Signal::derive(|| None))
    }
}

/// How long a run took, or has been going ("running" until the browser's clock ticks).
pub fn elapsed(run: &AgentRun, now: Option<DateTime<Utc>>) -> String {
    match (run.completed_at, now) {
        (Some(done), _) => format_duration(run.duration(done)),
        (None, Some(now)) => format_duration(run.duration(now)),
        (None, None) => "running".to_owned(),
    }
}
