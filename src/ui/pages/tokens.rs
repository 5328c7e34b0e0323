use crate::api::tokens::{list_tokens, CreateToken, RevokeToken};
use crate::model::{ApiToken, TokenScope, UserRole};
use crate::ui::components::{ErrorPanel, FormError};
use crate::ui::format::timestamp;
use crate::ui::resource::page_resource;
use crate::ui::session::action_error;
use crate::ui::session::Session;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = page_resource(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let create_error = action_error(create);
    let revoke_error = action_error(revoke);
    let created_secret = move || {
        create
            .value()
            .get()
            .and_then(|result| result.ok())
            .map(|(_, secret)| secret)
    };
    view! {
        <Title text="API tokens · runwire"/>
        <section class="tokens">
            <h1>"API tokens"</h1>
            <p class="muted">
                "Agents send a token as " <code>"Authorization: Bearer <token>"</code>
                " to report runs. A token does only what its scopes allow; give it an expiry and "
                "revoke it when an agent no longer needs it."
            </p>
            <ActionForm action=create attr:class="token-create">
                <label class="field">
                    <span>"Name"</span>
                    <input type="text" name="name" required placeholder="e.g. nightly-research-agent"/>
                </label>
                <fieldset class="field scopes">
                    <legend>"Scopes"</legend>
                    <ScopeBox name="write" scope=TokenScope::RunsWrite checked=true/>
                    <ScopeBox name="read" scope=TokenScope::RunsRead checked=false/>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let admin = Session::expect().info.await.ok()
                                .and_then(|info| info.user)
                                .is_some_and(|user| user.role == UserRole::Admin);
                            admin.then(|| view! {
                                <ScopeBox name="admin" scope=TokenScope::Admin checked=false/>
                                <ScopeBox name="any" scope=TokenScope::RunsWriteAny checked=false/>
                            })
                        })}
                    </Transition>
                </fieldset>
                <label class="field">
                    <span>"Expires"</span>
                    <select name="expires_in">
                        <option value="7d">"in 7 days"</option>
                        <option value="30d">"in 30 days"</option>
                        <option value="90d" selected>"in 90 days"</option>
                        <option value="365d">"in a year"</option>
                        <option value="">"never"</option>
                    </select>
                </label>
                <button type="submit" class="button primary">"Create token"</button>
            </ActionForm>
            <FormError error=create_error/>
            {move || created_secret().map(|secret| view! {
                <div class="callout" role="status">
                    <strong>"Copy this token now; it is not shown again."</strong>
                    <code class="secret" data-testid="new-token">{secret}</code>
                </div>
            })}
            <FormError error=revoke_error/>
            <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                    {move || Suspend::new(async move {
                        tokens.await.map(|tokens| view! { <TokenTable tokens revoke/> })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<ApiToken>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="empty">"No tokens yet."</p> }.into_any();
    }
    let rows = tokens
        .into_iter()
        .map(|token| {
            let state = if token.revoked_at.is_some() { "revoked" } else { "active" };
            view! {
                <tr data-token-state=state>
                    <td>{token.name.clone()}</td>
                    <td><code>{format!("{}…", token.prefix)}</code></td>
                    <td data-testid="token-scopes">{token.scopes.join(", ")}</td>
                    <td>{timestamp(token.created_at)}</td>
                    <td>{token.expires_at.map(timestamp).unwrap_or_else(|| "never".to_owned())}</td>
                    <td>{token.last_used_at.map(timestamp).unwrap_or_else(|| "never".to_owned())}</td>
                    <td>
                        {match token.revoked_at {
                            Some(at) => view! { <span class="muted">{format!("revoked {}", timestamp(at))}</span> }.into_any(),
                            None => view! {
                                <ActionForm action=revoke attr:class="inline-form">
                                    <input type="hidden" name="id" value=token.id.to_string()/>
                                    <button type="submit" class="button small danger">"Revoke"</button>
                                </ActionForm>
                            }
                            .into_any(),
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="runs-table tokens-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"State"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// One scope's checkbox in the create form.
#[component]
fn ScopeBox(name: &'static str, scope: TokenScope, checked: bool) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" name=name value="on" checked=checked/>
            <code>{scope.as_str()}</code>
            <span class="muted">{scope.describe()}</span>
        </label>
    }
}
