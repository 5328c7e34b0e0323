//! The visitor's session as the whole UI shares it: the auth actions and the resource that re-reads
//! who is signed in whenever one of them completes.

use crate::api::auth::{get_session_info, SignIn, SignInDemo, SignOut, SignUp};
use crate::error::AppError;
use crate::model::SessionInfo;
use crate::ui::resource::{page_resource, PageResource};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Session {
    pub sign_in: ServerAction<SignIn>,
    pub sign_up: ServerAction<SignUp>,
    pub sign_in_demo: ServerAction<SignInDemo>,
    pub sign_out: ServerAction<SignOut>,
    pub info: PageResource<Result<SessionInfo, AppError>>,
}

impl Session {
    pub fn provide() -> Session {
        let sign_in = ServerAction::<SignIn>::new();
        let sign_up = ServerAction::<SignUp>::new();
        let sign_in_demo = ServerAction::<SignInDemo>::new();
        let sign_out = ServerAction::<SignOut>::new();
        let info = page_resource(
            move || {
                (
                    sign_in.version().get(),
                    sign_up.version().get(),
                    sign_in_demo.version().get(),
                    sign_out.version().get(),
                )
            },
            |_| get_session_info(),
        );
        let session = Session {
            sign_in,
            sign_up,
            sign_in_demo,
            sign_out,
            info,
        };
        provide_context(session);
        session
    }

    pub fn expect() -> Session {
        expect_context::<Session>()
    }
}

/// The error of the last submission of `action`, as text, while it is the latest.
pub fn action_error<I, O>(action: ServerAction<I>) -> Signal<Option<String>>
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Signal::derive(move || {
        action
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|err| err.to_string())
    })
}
