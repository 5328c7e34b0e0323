//! A task's id as callers give it: a UUID, or any other text, as the system runwire replaces uses
//! ("task_123"). Text maps to the same UUID every time (a version 5 UUID of it), so runs of one
//! task find each other, and the text itself is kept on the run (`metadata.task_ref`).

use super::RunUpdateError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest task id that is not a UUID.
pub const TASK_REF_MAX_CHARS: usize = 200;

/// The namespace of task-id UUIDs made from text.
const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_5a2e_9c3d_4e7f_8a0b_1c2d_3e4f_5a6b);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskId {
    pub uuid: Uuid,
    /// The caller's text, when it was not a UUID.
    pub text: Option<String>,
}

impl TaskId {
    pub fn parse(text: &str) -> Result<TaskId, RunUpdateError> {
        let text = text.trim();
        if let Ok(uuid) = Uuid::parse_str(text) {
            return Ok(TaskId::from(uuid));
        }
        if text.is_empty()
            || text.chars().count() > TASK_REF_MAX_CHARS
            || text.chars().any(char::is_control)
        {
            return Err(RunUpdateError::TextLength {
                field: "task_id",
                max: TASK_REF_MAX_CHARS,
            });
        }
        Ok(TaskId {
            uuid: Uuid::new_v5(&TASK_NAMESPACE, text.as_bytes()),
            text: Some(text.to_owned()),
        })
    }
}

impl From<Uuid> for TaskId {
    fn from(uuid: Uuid) -> TaskId {
        TaskId { uuid, text: None }
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            Some(text) => serializer.serialize_str(text),
            None => self.uuid.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TaskId, D::Error> {
        let text = String::deserialize(deserializer)?;
        TaskId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A task id field that holds the UUID: a UUID, or text mapped as [`TaskId::parse`] maps it.
pub fn task_uuid<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Uuid>, D::Error> {
    Option::<TaskId>::deserialize(deserializer).map(|task| task.map(|task| task.uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_itself_and_text_maps_to_the_same_uuid_every_time() {
        let uuid = Uuid::new_v4();
        assert_eq!(
            TaskId::parse(&uuid.to_string()).unwrap(),
            TaskId::from(uuid)
        );
        let a = TaskId::parse("task_123").unwrap();
        assert_eq!(a, TaskId::parse(" task_123 ").unwrap());
        assert_eq!(a.text.as_deref(), Some("task_123"));
        assert_eq!(a.uuid.get_version_num(), 5);
        assert_ne!(a.uuid, TaskId::parse("task_124").unwrap().uuid);
        assert!(TaskId::parse("").is_err());
        assert!(TaskId::parse(&"x".repeat(TASK_REF_MAX_CHARS + 1)).is_err());
        assert!(TaskId::parse("a\nb").is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"task_123\"");
        assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), a);
        // a filter names the task by either
        let filter: crate::model::RunFilter =
            serde_json::from_str(r#"{"task_id": "task_123"}"#).unwrap();
        assert_eq!(filter.task_id, Some(a.uuid));
        let filter: crate::model::RunFilter =
            serde_json::from_str(&format!(r#"{{"task_id": "{uuid}"}}"#)).unwrap();
        assert_eq!(filter.task_id, Some(uuid));
    }
}
