//! The built-in demo agents. A run started from the /agents page is queued in Postgres; a pool of
//! workers in every server process claims queued runs (`FOR UPDATE SKIP LOCKED`) and plays the
//! agent's script through the same [`AgentEventPublisher`] external agents use. A worker holds a
//! lease it renews after each step; the reaper times out runs whose worker stopped renewing, so a
//! crashed process never leaves a run "in progress" forever. A run cancelled by its user stops its
//! agent at once: the worker watches the event hub for its run's end.

pub mod queue;
mod script;

pub use queue::{ClaimedJob, StaleJob};
pub use script::{abandoned, script_for, ScriptOdds, ScriptStep};

use crate::error::AppError;
use crate::model::{AgentRun, NewRun, RunStatus, TriggerRequest, UserRole};
use crate::server::bus::{BusEvent, EventBus};
use crate::server::db::{begin_scoped, Principal};
use crate::server::publisher::{self, AgentEventPublisher};
use serde_json::json;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How the built-in agents run.
#[derive(Clone, Debug)]
pub struct AgentRunnerConfig {
    /// Runs one process works on at once (0: this process only queues runs).
    pub workers: usize,
    /// Multiplies every step's duration (0.1: ten times faster than a real agent).
    pub speed: f64,
    pub odds: ScriptOdds,
    /// How long a claimed run survives without its worker renewing the lease.
    pub lease: Duration,
    /// How long a run may wait for any worker before it is timed out.
    pub queue_timeout: Duration,
    /// How often this process looks for abandoned runs.
    pub reap_every: Duration,
    /// Runs one user may have waiting for a worker: nobody can starve everyone else's runs into
    /// timing out in the queue.
    pub max_waiting_per_user: i64,
}

impl Default for AgentRunnerConfig {
    fn default() -> Self {
        AgentRunnerConfig {
            workers: 4,
            speed: 1.0,
            odds: ScriptOdds::default(),
            lease: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(600),
            reap_every: Duration::from_secs(5),
            max_waiting_per_user: 20,
        }
    }
}

/// Why a worker stopped working on a run; stored as the job's outcome.
#[derive(Debug)]
enum Ending {
    /// The script ran to its end (completed or failed).
    Finished(RunStatus),
    /// Someone else ended the run (its user cancelled it, or the reaper timed it out).
    EndedElsewhere,
    /// This process is shutting down; the run was ended as abandoned.
    ShutDown,
    /// Publishing failed; the lease will run out and the reaper times the run out.
    Broken,
}

impl Ending {
    /// What the job row records, or None when the job is left for the reaper.
    fn outcome(&self) -> Option<String> {
        match self {
            Ending::Finished(status) => Some(status.to_string()),
            Ending::EndedElsewhere => Some("ended elsewhere".into()),
            Ending::ShutDown => Some("abandoned at shutdown".into()),
            Ending::Broken => None,
        }
    }
}

pub struct AgentRunner {
    pool: PgPool,
    bus: Arc<EventBus>,
    publisher: AgentEventPublisher,
    config: AgentRunnerConfig,
    /// Names this process's workers in `agent_jobs.claimed_by`.
    instance: String,
    wake: Notify,
    stopping: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl AgentRunner {
    pub fn new(pool: PgPool, bus: Arc<EventBus>, config: AgentRunnerConfig) -> Arc<AgentRunner> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let instance = format!(
            "{host}:{}:{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..6]
        );
        Arc::new(AgentRunner {
            publisher: AgentEventPublisher::new(pool.clone()),
            pool,
            bus,
            config,
            instance,
            wake: Notify::new(),
            stopping: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts the workers and the reaper.
    pub fn start(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for n in 0..self.config.workers {
            tasks.push(tokio::spawn(Arc::clone(self).work(n)));
        }
        tasks.push(tokio::spawn(Arc::clone(self).reap_forever()));
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Starts `request` for `who`: the run is created as `queued` and queued for a worker in one
    /// transaction, so a run never exists without its job or the other way round.
    pub async fn trigger(
        &self,
        who: Principal,
        request: &TriggerRequest,
    ) -> Result<AgentRun, AppError> {
        let new = NewRun {
            agent_name: request.agent.name.to_owned(),
            task: request.task.clone(),
            task_id: request.task_id.map(Into::into),
            user_id: None,
            status: RunStatus::Queued,
            step: Some("Waiting for a worker".into()),
            metadata: Some(json!({ "runner": "builtin" })),
        };
        let mut tx = begin_scoped(&self.pool, who).await?;
        let limit = self.config.max_waiting_per_user;
        if queue::waiting_for_user(&mut tx).await? >= limit {
            return Err(AppError::QuotaExceeded(format!(
                "you already have {limit} runs waiting for a built-in agent; wait for them to start \
                 or cancel some"
            )));
        }
        let run = publisher::create_in(&mut tx, &new).await?;
        queue::enqueue(&mut tx, &run).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(run)
    }

    /// Ends every run whose worker is gone or that waited too long for one; returns how many.
    pub async fn reap(&self) -> Result<usize, AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let stale = queue::lock_stale(&mut tx, self.config.queue_timeout, 100).await?;
        for job in &stale {
            let why = if job.claimed {
                "Timed out: the worker running this agent stopped responding"
            } else {
                "Timed out: no worker picked this run up in time"
            };
            let outcome = if job.status.is_terminal() {
                job.status.to_string()
            } else {
                let update = abandoned(job.status, why);
                publisher::apply_in(&mut tx, job.run_id, &[update]).await?;
                why.to_owned()
            };
            queue::finish(&mut tx, job.run_id, &outcome).await?;
        }
        tx.commit().await?;
        if !stale.is_empty() {
            tracing::warn!("agent runner: ended {} abandoned run(s)", stale.len());
        }
        Ok(stale.len())
    }

    /// Jobs waiting for a worker and jobs being worked on, across all processes.
    pub async fn queue_counts(&self) -> Result<(i64, i64), AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let counts = queue::counts(&mut tx).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Stops the workers (ending the runs they hold as abandoned) and waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("agent runner: workers did not stop within {grace:?}");
        }
    }

    /// Tells the workers to stop without waiting for them (for a runner that is simply dropped).
    pub fn stop_now(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once the runner is told to stop.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    async fn work(self: Arc<Self>, n: usize) {
        let worker = format!("{}/{n}", self.instance);
        while !self.is_stopping() {
            match self.claim(&worker).await {
                Ok(Some(job)) => {
                    let run_id = job.run_id;
                    if let Some(outcome) = self.run_job(&worker, job).await.outcome() {
                        if let Err(err) = self.finish(run_id, &outcome).await {
                            tracing::warn!("agent runner: finishing job {run_id}: {err}");
                        }
                    }
                }
                Ok(None) => {
                    // Woken by a trigger in this process; other processes' runs are found by the poll.
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = self.stopped() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!("agent runner: claiming a job: {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn reap_forever(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.reap_every) => {}
                _ = self.stopped() => return,
            }
            if let Err(err) = self.reap().await {
                tracing::warn!("agent runner: reaping: {err}");
            }
        }
    }

    async fn claim(&self, worker: &str) -> Result<Option<ClaimedJob>, AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let job = queue::claim(&mut tx, worker, self.config.lease).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn renew(&self, run_id: Uuid, worker: &str) -> Result<bool, AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        let renewed = queue::renew(&mut tx, run_id, worker, self.config.lease).await?;
        tx.commit().await?;
        Ok(renewed)
    }

    async fn finish(&self, run_id: Uuid, outcome: &str) -> Result<(), AppError> {
        let mut tx = begin_scoped(&self.pool, Principal::SYSTEM).await?;
        queue::finish(&mut tx, run_id, outcome).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Plays the run's script, step by step, until it ends or something ends it.
    async fn run_job(&self, worker: &str, job: ClaimedJob) -> Ending {
        // Subscribed before the first step, so a cancel is never missed between steps.
        let (mut events, _) = self.bus.subscribe();
        let owner = Principal {
            user_id: job.user_id,
            role: UserRole::User,
        };
        let steps = script_for(&job.agent_name, &job.task, job.run_id, self.config.odds);
        let mut status = RunStatus::Queued;
        for step in steps {
            let delay = step.delay.mul_f64(self.config.speed.max(0.0));
            match self.pause(&mut events, job.run_id, delay).await {
                Pause::Elapsed => {}
                Pause::RunEnded => return Ending::EndedElsewhere,
                Pause::Stopping => {
                    let update = abandoned(status, "Stopped: the server shut down mid-run");
                    let _ = self.publisher.apply(owner, job.run_id, update).await;
                    return Ending::ShutDown;
                }
            }
            let applied = self
                .publisher
                .apply_with_spans(owner, job.run_id, step.update, &step.spans)
                .await;
            match applied {
                Ok(run) => status = run.status,
                Err(AppError::Conflict(_) | AppError::NotFound) => return Ending::EndedElsewhere,
                Err(err) => {
                    tracing::warn!("agent runner: run {}: {err}", job.run_id);
                    return Ending::Broken;
                }
            }
            if status.is_terminal() {
                return Ending::Finished(status);
            }
            match self.renew(job.run_id, worker).await {
                Ok(true) => {}
                Ok(false) => return Ending::EndedElsewhere,
                Err(err) => {
                    tracing::warn!("agent runner: renewing run {}: {err}", job.run_id);
                    return Ending::Broken;
                }
            }
        }
        Ending::Finished(status)
    }

    /// Waits `delay`, cut short when the run ends elsewhere or the process stops.
    async fn pause(
        &self,
        events: &mut broadcast::Receiver<Arc<BusEvent>>,
        run_id: Uuid,
        delay: Duration,
    ) -> Pause {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        let stopped = self.stopped();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut sleep => return Pause::Elapsed,
                _ = &mut stopped => return Pause::Stopping,
                received = events.recv() => match received {
                    Ok(item) if item.event.run_id == run_id && item.event.status.is_terminal() => {
                        return Pause::RunEnded;
                    }
                    // Lagging or a closed hub only loses the early stop: the next publish
                    // finds the run finished anyway.
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut sleep).await;
                        return Pause::Elapsed;
                    }
                    _ => {}
                },
            }
        }
    }
}

enum Pause {
    Elapsed,
    RunEnded,
    Stopping,
}
