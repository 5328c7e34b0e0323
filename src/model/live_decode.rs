//! Reading a [`LiveMessage`] without buffering it.
//!
//! serde's derive for an internally tagged enum (`{"type": "run", ...}`) cannot know the variant
//! until it has seen the tag, wherever that sits in the object, so it reads every message into a
//! generic `Content` tree first and then decodes the variant from that tree. In the browser that
//! was a third copy of the decoders of `AgentRun`, `RunEvent` and what they hold, plus the `Content`
//! machinery: 17 KB of the gzipped WASM (a build with the enum externally tagged, measured). The
//! server writes the tag first (serde puts it there), so this reads the tag, then the variant's
//! fields straight from the stream.

use super::{AgentRun, LiveMessage, RunEvent};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Run,
    Event,
    Ready,
    Heartbeat,
    Resync,
    Error,
}

#[derive(Deserialize)]
struct RunFields {
    run: Box<AgentRun>,
    as_of: i64,
}

#[derive(Deserialize)]
struct EventFields {
    event: Box<RunEvent>,
}

#[derive(Deserialize)]
struct CursorFields {
    last_event_id: i64,
}

#[derive(Deserialize)]
struct ResyncFields {
    reason: String,
}

#[derive(Deserialize)]
struct ErrorFields {
    message: String,
}

impl<'de> Deserialize<'de> for LiveMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = LiveMessage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a live message: an object whose first key is \"type\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LiveMessage, A::Error> {
        match map.next_key::<String>()? {
            Some(key) if key == "type" => {}
            Some(key) => {
                return Err(A::Error::custom(format!(
                    "a live message starts with \"type\", not {key:?}"
                )))
            }
            None => return Err(A::Error::missing_field("type")),
        }
        let kind: Kind = map.next_value()?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match kind {
            Kind::Run => {
                let RunFields { run, as_of } = RunFields::deserialize(rest)?;
                LiveMessage::Run { run, as_of }
            }
            Kind::Event => LiveMessage::Event {
                event: EventFields::deserialize(rest)?.event,
            },
            Kind::Ready => LiveMessage::Ready {
                last_event_id: CursorFields::deserialize(rest)?.last_event_id,
            },
            Kind::Heartbeat => LiveMessage::Heartbeat {
                last_event_id: CursorFields::deserialize(rest)?.last_event_id,
            },
            Kind::Resync => LiveMessage::Resync {
                reason: ResyncFields::deserialize(rest)?.reason,
            },
            Kind::Error => LiveMessage::Error {
                message: ErrorFields::deserialize(rest)?.message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::super::LiveFrame;
    use super::*;

    #[test]
    fn every_message_reads_back_as_the_server_encoded_it() {
        let mut event = fixtures::event(8, 1);
        event.step = Some("plan \"quoted\" \\ step".into());
        event.payload = serde_json::json!({"percent": 12.5, "nested": {"type": "not a tag"}});
        let run = fixtures::run(1);
        let messages = [
            LiveMessage::Run {
                run: Box::new(run.clone()),
                as_of: 7,
            },
            LiveMessage::Event {
                event: Box::new(event.clone()),
            },
            LiveMessage::Ready { last_event_id: 8 },
            LiveMessage::Heartbeat { last_event_id: 9 },
            LiveMessage::Resync {
                reason: "behind".into(),
            },
            LiveMessage::Error {
                message: "refused".into(),
            },
        ];
        for message in &messages {
            assert_eq!(
                LiveFrame::of(message).messages().unwrap(),
                std::slice::from_ref(message)
            );
        }
        // the server's shared encodings of a run and of an event
        assert_eq!(
            LiveFrame::of_run(&run, 7).messages().unwrap(),
            messages[..1]
        );
        assert_eq!(
            LiveFrame::of_event(&event).messages().unwrap(),
            messages[1..2]
        );
        let all = LiveFrame(serde_json::to_vec(&messages).unwrap().into());
        assert_eq!(all.messages().unwrap(), messages);
    }

    #[test]
    fn a_message_names_its_type_first_and_has_its_fields() {
        for (bad, problem) in [
            (
                r#"[{"last_event_id":1,"type":"ready"}]"#,
                "starts with \"type\"",
            ),
            (r#"[{}]"#, "missing field `type`"),
            (r#"[{"type":"shout"}]"#, "unknown variant `shout`"),
            (r#"[{"type":"ready"}]"#, "missing field `last_event_id`"),
            (r#"[{"type":"run","as_of":1}]"#, "missing field `run`"),
            (r#"[["ready",1]]"#, "invalid type"),
        ] {
            let err = LiveFrame(bad.as_bytes().to_vec().into())
                .messages()
                .unwrap_err();
            assert!(err.contains(problem), "{bad}: {err}");
        }
    }
}
