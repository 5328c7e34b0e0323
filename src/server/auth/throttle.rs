//! Brute-force and flood guard for sign-in and sign-up, counted in Postgres so every replica shares
//! the count. An attempt is counted, in one atomic statement, before any password is checked: a
//! hundred guesses sent at once find the count already past the limit, not a count each of them
//! read as zero. A successful sign-in forgives its email and gives its address one attempt back.

use crate::error::AppError;
use chrono::Utc;
use sqlx::PgPool;
use std::net::IpAddr;

/// Sign-in attempts per email per window.
pub const SIGN_IN_PER_EMAIL: i32 = 5;
/// Sign-in attempts per client address per window: many people may share one (an office NAT).
pub const SIGN_IN_PER_ADDRESS: i32 = 50;
pub const SIGN_IN_WINDOW_SECS: i32 = 15 * 60;
/// Sign-ups per client address per window.
pub const SIGN_UP_PER_ADDRESS: i32 = 10;
pub const SIGN_UP_WINDOW_SECS: i32 = 60 * 60;

/// One counter an attempt is charged to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: i32,
    pub window_secs: i32,
}

/// The counters of a sign-in: the email, and the client address when known.
pub fn sign_in(email: &str, client: Option<IpAddr>) -> Vec<Limit> {
    let mut limits = vec![Limit {
        key: format!("sign-in:email:{email}"),
        max: SIGN_IN_PER_EMAIL,
        window_secs: SIGN_IN_WINDOW_SECS,
    }];
    limits.extend(client.map(|ip| Limit {
        key: format!("sign-in:{}", address_key(ip)),
        max: SIGN_IN_PER_ADDRESS,
        window_secs: SIGN_IN_WINDOW_SECS,
    }));
    limits
}

/// The counter of a sign-up: the client address.
pub fn sign_up(client: IpAddr) -> Vec<Limit> {
    vec![Limit {
        key: format!("sign-up:{}", address_key(client)),
        max: SIGN_UP_PER_ADDRESS,
        window_secs: SIGN_UP_WINDOW_SECS,
    }]
}

/// Who an address stands for: an IPv4 address, or an IPv6 /64 (one household or server usually
/// holds a whole /64, so counting single IPv6 addresses would count nothing).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let segments = v6.segments();
                format!(
                    "ip:{:x}:{:x}:{:x}:{:x}::/64",
                    segments[0], segments[1], segments[2], segments[3]
                )
            }
        },
    }
}

/// Counts one attempt against each limit; 429 (with when to retry) if any is past its maximum.
pub async fn count_attempt(pool: &PgPool, limits: &[Limit]) -> Result<(), AppError> {
    let keys: Vec<String> = limits.iter().map(|l| l.key.clone()).collect();
    let windows: Vec<i32> = limits.iter().map(|l| l.window_secs).collect();
    let counted = sqlx::query!(
        "INSERT INTO auth_attempts AS a (key, attempts, window_secs)
         SELECT key, 1, window_secs FROM unnest($1::text[], $2::int[]) AS t(key, window_secs)
         ON CONFLICT (key) DO UPDATE SET
             attempts = CASE WHEN a.window_started_at > now() - make_interval(secs => EXCLUDED.window_secs)
                             THEN a.attempts + 1 ELSE 1 END,
             window_started_at = CASE WHEN a.window_started_at > now() - make_interval(secs => EXCLUDED.window_secs)
                                      THEN a.window_started_at ELSE now() END,
             window_secs = EXCLUDED.window_secs
         RETURNING key, attempts, window_started_at",
        &keys,
        &windows
    )
    .fetch_all(pool)
    .await?;
    let now = Utc::now();
    let blocked_until = counted
        .iter()
        .filter_map(|row| {
            let limit = limits.iter().find(|l| l.key == row.key)?;
            (row.attempts > limit.max).then(|| {
                row.window_started_at + chrono::Duration::seconds(i64::from(limit.window_secs))
            })
        })
        .max();
    match blocked_until {
        Some(until) => Err(AppError::RateLimited {
            retry_after_secs: (until - now).num_seconds().max(1) as u64,
        }),
        None => Ok(()),
    }
}

/// After a successful sign-in: the email starts over, the address gets its attempt back.
pub async fn forgive(pool: &PgPool, limits: &[Limit]) -> Result<(), sqlx::Error> {
    let Some((email, addresses)) = limits.split_first() else {
        return Ok(());
    };
    let addresses: Vec<String> = addresses.iter().map(|l| l.key.clone()).collect();
    sqlx::query!(
        "WITH forgotten AS (DELETE FROM auth_attempts WHERE key = $1)
         UPDATE auth_attempts SET attempts = greatest(attempts - 1, 0) WHERE key = ANY($2)",
        &email.key,
        &addresses
    )
    .execute(pool)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        assert_eq!(address_key(a), "ip:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(address_key(mapped), "ip:203.0.113.9");
    }

    #[test]
    fn a_sign_in_counts_against_its_email_and_its_address() {
        let limits = sign_in("ada@example.com", Some("203.0.113.9".parse().unwrap()));
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].key, "sign-in:email:ada@example.com");
        assert_eq!(limits[0].max, SIGN_IN_PER_EMAIL);
        assert_eq!(limits[1].key, "sign-in:ip:203.0.113.9");
        assert_eq!(sign_in("ada@example.com", None).len(), 1);
    }
}
