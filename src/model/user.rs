use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "user_role", rename_all = "snake_case")
)]
pub enum UserRole {
    #[default]
    User,
    /// Sees every user's runs.
    Admin,
}

impl UserRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserRole::User => "user",
            UserRole::Admin => "admin",
        }
    }
}

/// The signed-in user as the pages see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub role: UserRole,
}

pub const EMAIL_MAX_CHARS: usize = 254;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// An email address as stored: trimmed, lower-case, one `@`, a dotted domain, no spaces.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err("email is longer than 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("enter an email address like name@example.com");
    };
    let well_formed = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(email)
    } else {
        Err("enter an email address like name@example.com")
    }
}

/// Length rules only: a long passphrase beats any composition rule.
pub fn check_new_password(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < PASSWORD_MIN_CHARS {
        Err("password must be at least 8 characters")
    } else if len > PASSWORD_MAX_CHARS {
        Err("password must be at most 128 characters")
    } else {
        Ok(())
    }
}

/// Domains of the addresses runwire uses itself (the demo user, the health probe): nobody can sign
/// up with one.
pub const RESERVED_EMAIL_DOMAINS: &[&str] = &["runwire.local", "runwire.internal"];

/// Whether `email` (normalised) is one of runwire's own addresses.
pub fn is_reserved_email(email: &str) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(_, domain)| RESERVED_EMAIL_DOMAINS.contains(&domain))
}

/// What an API token may do. A browser session may do all of it (admin only for admins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TokenScope {
    /// Report runs: create them and send their progress and outcome. The default for agents.
    #[serde(rename = "runs:write")]
    RunsWrite,
    /// Read runs, their events and the live stream.
    #[serde(rename = "runs:read")]
    RunsRead,
    /// Act as an admin (every user's runs). Only an admin can grant it.
    #[serde(rename = "admin")]
    Admin,
    /// Report runs for any user, named by `user_id` (their runwire id or external id): the one key of
    /// a backend that publishes for many end users. Only an admin can grant it.
    #[serde(rename = "runs:write:any")]
    RunsWriteAny,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [
        TokenScope::RunsWrite,
        TokenScope::RunsRead,
        TokenScope::Admin,
        TokenScope::RunsWriteAny,
    ];

    /// Scopes only an admin may put on a token.
    pub const fn admin_only(self) -> bool {
        matches!(self, TokenScope::Admin | TokenScope::RunsWriteAny)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::RunsWrite => "runs:write",
            TokenScope::RunsRead => "runs:read",
            TokenScope::Admin => "admin",
            TokenScope::RunsWriteAny => "runs:write:any",
        }
    }

    pub fn parse(text: &str) -> Option<TokenScope> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    pub const fn describe(self) -> &'static str {
        match self {
            TokenScope::RunsWrite => "report runs",
            TokenScope::RunsRead => "read runs and watch them live",
            TokenScope::Admin => "act as admin: every user's runs",
            TokenScope::RunsWriteAny => "report runs for any user (a service's backend)",
        }
    }
}

/// Longest id a user may have in another system (`users.external_id`).
pub const EXTERNAL_ID_MAX_CHARS: usize = 200;

/// An external id: 1 to 200 characters, no control characters.
pub fn check_external_id(id: &str) -> Result<(), crate::model::RunUpdateError> {
    if id.is_empty()
        || id.chars().count() > EXTERNAL_ID_MAX_CHARS
        || id.chars().any(char::is_control)
    {
        return Err(crate::model::RunUpdateError::TextLength {
            field: "external_id",
            max: EXTERNAL_ID_MAX_CHARS,
        });
    }
    Ok(())
}

/// Longest lifetime a token can be given, in days (ten years).
pub const TOKEN_MAX_DAYS: u32 = 3_650;

/// "90d", "12h", "30m" or "2w": how long a new token lives.
pub fn parse_lifetime(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a lifetime like 90d, 12h, 30m or 2w");
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let lifetime = match unit {
        "m" => chrono::Duration::minutes(number),
        "h" => chrono::Duration::hours(number),
        "d" => chrono::Duration::days(number),
        "w" => chrono::Duration::weeks(number),
        _ => return Err(bad()),
    };
    if number < 1 || lifetime > chrono::Duration::days(i64::from(TOKEN_MAX_DAYS)) {
        return Err(format!(
            "a token lives from 1 minute to {TOKEN_MAX_DAYS} days"
        ));
    }
    Ok(lifetime)
}

/// An API token as its owner sees it in a list: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    /// What it may do: `runs:write`, `runs:read`, `admin`.
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// None: it never expires.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What the pages need to know about the visitor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<CurrentUser>,
    /// A one-click demo sign-in is offered (RUNWIRE_DEMO).
    pub demo_available: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalize_email("  Ada@Example.COM "),
            Ok("ada@example.com".into())
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "a b@example.com",
            "ada@@example.com",
            "ada@example.com.",
            "x'; DROP TABLE users;--@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            normalize_email(&long),
            Err("email is longer than 254 characters")
        );
    }

    #[test]
    fn runwire_keeps_its_own_addresses() {
        assert!(is_reserved_email("demo@runwire.local"));
        assert!(is_reserved_email("health-probe@runwire.internal"));
        assert!(!is_reserved_email("demo@runwire.local.example.com"));
        assert!(!is_reserved_email("ada@example.com"));
    }

    #[test]
    fn lifetimes_parse_with_units_and_bounds() {
        assert_eq!(parse_lifetime("90d"), Ok(chrono::Duration::days(90)));
        assert_eq!(parse_lifetime("12h"), Ok(chrono::Duration::hours(12)));
        assert_eq!(parse_lifetime("2w"), Ok(chrono::Duration::weeks(2)));
        for bad in ["", "d", "90", "90y", "0d", "-1d", "99999d", "1.5d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_have_stable_names() {
        for scope in TokenScope::ALL {
            assert_eq!(TokenScope::parse(scope.as_str()), Some(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert_eq!(TokenScope::parse("runs:delete"), None);
    }

    #[test]
    fn passwords_are_checked_by_length() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password(&"é".repeat(128)).is_ok());
        assert!(check_new_password(&"x".repeat(129)).is_err());
    }
}
