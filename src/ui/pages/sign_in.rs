use crate::model::PASSWORD_MIN_CHARS;
use crate::ui::components::FormError;
use crate::ui::session::{action_error, Session};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SignInPage() -> impl IntoView {
    let session = Session::expect();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    let error = action_error(session.sign_in);
    let demo_error = action_error(session.sign_in_demo);
    view! {
        <Title text="Sign in · runwire"/>
        <section class="auth-card">
            <h1>"Sign in"</h1>
            <ActionForm action=session.sign_in attr:class="stack-form">
                <input type="hidden" name="next" prop:value=next/>
                <CredentialFields password_autocomplete="current-password"/>
                <FormError error/>
                <button type="submit" class="button primary" disabled=move || session.sign_in.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let demo = session.info.await.map(|info| info.demo_available).unwrap_or(false);
                    demo.then(|| view! {
                        <ActionForm action=session.sign_in_demo attr:class="demo-form">
                            <input type="hidden" name="next" prop:value=next/>
                            <button type="submit" class="button">"Try the demo"</button>
                            <FormError error=demo_error/>
                        </ActionForm>
                    })
                })}
            </Transition>
            <p class="muted">"No account yet? " <a href="/signup">"Create one"</a></p>
        </section>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let session = Session::expect();
    let error = action_error(session.sign_up);
    view! {
        <Title text="Sign up · runwire"/>
        <section class="auth-card">
            <h1>"Create your account"</h1>
            <ActionForm action=session.sign_up attr:class="stack-form">
                <CredentialFields
                    password_autocomplete="new-password"
                    password_hint=format!("At least {PASSWORD_MIN_CHARS} characters.")
                />
                <FormError error/>
                <button type="submit" class="button primary" disabled=move || session.sign_up.pending().get()>
                    "Sign up"
                </button>
            </ActionForm>
            <p class="muted">"Have an account? " <a href="/signin">"Sign in"</a></p>
        </section>
    }
}

/// The email and password inputs of the sign-in and sign-up forms.
#[component]
fn CredentialFields(
    password_autocomplete: &'static str,
    #[prop(optional)] password_hint: Option<String>,
) -> impl IntoView {
    view! {
        <label>
            <span>"Email"</span>
            <input type="email" name="email" required autocomplete="email"/>
        </label>
        <label>
            <span>"Password"</span>
            <input type="password" name="password" required autocomplete=password_autocomplete/>
            {password_hint.map(|hint| view! { <small class="muted">{hint}</small> })}
        </label>
    }
}
