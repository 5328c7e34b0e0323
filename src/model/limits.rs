//! What a run may hold, as named limits, and the pure checks that enforce them: the REST API, the
//! publisher and the forms share one set.

use super::RunUpdateError;
use serde_json::Value;

pub const STEP_MAX_CHARS: usize = 500;
pub const ERROR_MAX_CHARS: usize = 10_000;
pub const REASON_MAX_CHARS: usize = 2_000;
pub const AGENT_NAME_MAX_CHARS: usize = 100;
pub const TASK_MAX_CHARS: usize = 65_536;
/// Largest serialized `result` of a completed run.
pub const RESULT_MAX_BYTES: usize = 256 * 1024;
/// Largest serialized verification evidence or run metadata.
pub const EVIDENCE_MAX_BYTES: usize = 64 * 1024;
/// Most verification attempts one run keeps.
pub const VERIFICATION_MAX_ATTEMPTS: usize = 20;
/// Largest stored size of one run: task, metadata, result, evidence, error and step together.
pub const RUN_MAX_BYTES: usize = 1024 * 1024;

pub(super) fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<(), RunUpdateError> {
    let len = text.chars().count();
    if len == 0 || len > max || text.trim().is_empty() {
        return Err(RunUpdateError::TextLength { field, max });
    }
    if text.contains('\0') {
        return Err(RunUpdateError::Unstorable {
            field,
            what: "a NUL character",
        });
    }
    Ok(())
}

/// Largest magnitude of a JSON number a run may hold: PostgreSQL keeps jsonb numbers exact and
/// writes them back as plain digits, and a number near the end of the f64 range would not read back.
pub const JSON_NUMBER_MAX: f64 = 1e300;

/// What in `value` cannot be stored and read back: a string (or key) with a NUL character, which
/// PostgreSQL refuses in text and jsonb, or a number beyond [`JSON_NUMBER_MAX`].
pub fn unstorable(value: &Value) -> Option<&'static str> {
    match value {
        Value::String(text) if text.contains('\0') => Some("a NUL character"),
        Value::Number(number) if number.as_f64().is_some_and(|n| n.abs() > JSON_NUMBER_MAX) => {
            Some("a number beyond 1e300")
        }
        Value::Array(items) => items.iter().find_map(unstorable),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some("a NUL character")
            } else {
                unstorable(item)
            }
        }),
        _ => None,
    }
}

/// The serialized size of `value`, or an error when it is over `max` (or holds a NUL character).
pub(super) fn check_size(
    field: &'static str,
    value: &Value,
    max: usize,
) -> Result<usize, RunUpdateError> {
    let size = json_len(value);
    if size > max {
        return Err(RunUpdateError::TooLarge { field, size, max });
    }
    if let Some(what) = unstorable(value) {
        return Err(RunUpdateError::Unstorable { field, what });
    }
    Ok(size)
}

pub(super) fn check_step(step: &Option<String>) -> Result<(), RunUpdateError> {
    match step {
        Some(step) => check_text("step", step, STEP_MAX_CHARS),
        None => Ok(()),
    }
}

pub(super) fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX / 4, |v| v.len())
}
