use crate::api::agents::TriggerAgentRun;
use crate::error::AppError;
use crate::model::{AgentRun, BUILTIN_AGENTS, TRIGGER_TASK_MAX_CHARS};
use crate::ui::components::FormError;
use leptos::prelude::*;

/// The "start a run" form: agent, task, optional task id, and one-click example tasks. A refused
/// start shows why next to the field at fault and keeps what was typed.
#[component]
pub fn TaskForm(on_started: Callback<AgentRun>) -> impl IntoView {
    let trigger = ServerAction::<TriggerAgentRun>::new();
    let agent = RwSignal::new(BUILTIN_AGENTS[0].name.to_owned());
    let task = RwSignal::new(String::new());
    let task_id = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(run)) = trigger.value().get() {
            task.set(String::new());
            task_id.set(String::new());
            on_started.run(run);
        }
    });
    let error = move || trigger.value().get().and_then(Result::err);
    let field_error = move |field: &'static str| {
        move || match error() {
            Some(AppError::Validation { field: f, message }) if f == field => Some(message),
            _ => None,
        }
    };
    let form_error = move || match error() {
        Some(AppError::Validation { .. }) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let length = Memo::new(move |_| task.with(|t| t.trim().chars().count()));
    let too_long = Signal::derive(move || length.get() > TRIGGER_TASK_MAX_CHARS);
    let description = move || {
        agent.with(|name| {
            crate::model::AgentProfile::find(name)
                .map(|a| a.description)
                .unwrap_or_default()
        })
    };
    view! {
        <section class="task-form-card">
            <h1>"Start an agent"</h1>
            <ActionForm action=trigger attr:class="stack-form task-form" attr:novalidate=true>
                <div class="field">
                    <label for="trigger-agent">"Agent"</label>
                    <select id="trigger-agent" name="agent" prop:value=move || agent.get() on:change=move |ev| agent.set(event_target_value(&ev))>
                        {BUILTIN_AGENTS.iter().map(|a| view! { <option value=a.name>{a.title}</option> }).collect_view()}
                    </select>
                    <small class="muted">{description}</small>
                    <FieldError message=Signal::derive(field_error("agent"))/>
                </div>
                <div class="field">
                    <label for="trigger-task">"Task"</label>
                    <textarea
                        id="trigger-task"
                        name="task"
                        rows="4"
                        placeholder="What should the agent do?"
                        prop:value=move || task.get()
                        on:input=move |ev| task.set(event_target_value(&ev))
                        aria-invalid=move || field_error("task")().is_some().then_some("true")
                    ></textarea>
                    <small class="muted counter" class:over=too_long>
                        {move || format!("{} / {TRIGGER_TASK_MAX_CHARS}", length.get())}
                    </small>
                    <FieldError message=Signal::derive(field_error("task"))/>
                </div>
                <details class="advanced">
                    <summary>"Task id (optional)"</summary>
                    <div class="field">
                        <label for="trigger-task-id">"Task id"</label>
                        <input
                            id="trigger-task-id"
                            name="task_id"
                            placeholder="UUID grouping runs of one task; empty for a new task"
                            prop:value=move || task_id.get()
                            on:input=move |ev| task_id.set(event_target_value(&ev))
                        />
                        <FieldError message=Signal::derive(field_error("task_id"))/>
                    </div>
                </details>
                <FormError error=Signal::derive(form_error)/>
                <button type="submit" class="button primary" disabled=move || trigger.pending().get()>
                    {move || if trigger.pending().get() { "Starting…" } else { "Start run" }}
                </button>
            </ActionForm>
            <div class="examples">
                <h2>"Quick examples"</h2>
                <ul>
                    {BUILTIN_AGENTS
                        .iter()
                        .flat_map(|a| a.examples.iter().map(move |example| (a.name, *example)))
                        .map(|(name, example)| view! {
                            <li>
                                <button
                                    type="button"
                                    class="example"
                                    on:click=move |_| {
                                        agent.set(name.to_owned());
                                        task.set(example.to_owned());
                                    }
                                >
                                    <span class="agent-name">{name}</span>
                                    <span>{example}</span>
                                </button>
                            </li>
                        })
                        .collect_view()}
                </ul>
            </div>
        </section>
    }
}

#[component]
fn FieldError(message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|message| view! { <span class="field-error" role="alert">{message}</span> })
    }
}
