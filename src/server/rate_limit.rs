//! The REST API's request budget: per user (whatever token or session they use), per process, so
//! minting more tokens does not buy more requests.

use crate::error::AppError;
use std::num::NonZeroU32;
use std::sync::Arc;
use uuid::Uuid;

/// Requests per second and burst allowed per user.
pub type ApiLimiter = governor::DefaultKeyedRateLimiter<Uuid>;

pub fn limiter(per_second: u32, burst: u32) -> Arc<ApiLimiter> {
    let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Spends one request of `user`'s budget, or says when to come back.
pub fn spend(limiter: &ApiLimiter, user: Uuid) -> Result<(), AppError> {
    limiter.check_key(&user).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        AppError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}
