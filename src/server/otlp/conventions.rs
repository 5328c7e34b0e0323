//! The semantic conventions a span's attributes are read by: the GenAI conventions (`gen_ai.*`,
//! with their older spellings), OpenInference (`llm.*`, `openinference.span.kind`) and OpenLLMetry
//! (`traceloop.*`). Each list is in order of preference: the first key present wins.

use super::attributes::text;
use crate::model::SpanKind;
use serde_json::{Map, Value};

pub const AGENT_NAME: &[&str] = &["gen_ai.agent.name", "agent.name"];
pub const MODEL: &[&str] = &[
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "llm.request.model",
];
pub const INPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
];
pub const OUTPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
];
pub const CACHE_READ_TOKENS: &[&str] = &[
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
];
pub const REASONING_TOKENS: &[&str] = &[
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "llm.token_count.completion_details.reasoning",
];
pub const COST: &[&str] = &["gen_ai.usage.cost", "llm.cost.total"];
/// Content moves from the attributes into the span's previews.
pub const INPUT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.tool.call.arguments",
    "input.value",
    "traceloop.entity.input",
];
pub const OUTPUT: &[&str] = &[
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
    "output.value",
    "traceloop.entity.output",
];
pub const SESSION: &[&str] = &["gen_ai.conversation.id", "session.id"];

/// The span's kind by its operation (GenAI conventions), its OpenInference or OpenLLMetry kind, or
/// the attributes an LLM or tool call carries; a root span is the agent.
pub fn kind_of(
    attributes: &Map<String, Value>,
    operation: Option<&str>,
    is_root: bool,
) -> SpanKind {
    let by_operation = match operation {
        Some("chat" | "text_completion" | "generate_content" | "embeddings" | "completion") => {
            Some(SpanKind::Llm)
        }
        Some("execute_tool") => Some(SpanKind::Tool),
        Some("invoke_agent" | "create_agent") => Some(SpanKind::Agent),
        _ => None,
    };
    let by_openinference =
        text(attributes, &["openinference.span.kind"]).and_then(|kind| {
            match kind.to_ascii_uppercase().as_str() {
                "LLM" | "EMBEDDING" => Some(SpanKind::Llm),
                "TOOL" => Some(SpanKind::Tool),
                "AGENT" => Some(SpanKind::Agent),
                "RETRIEVER" | "RERANKER" => Some(SpanKind::Retrieval),
                "CHAIN" => Some(SpanKind::Step),
                _ => None,
            }
        });
    let by_traceloop = text(attributes, &["traceloop.span.kind"]).and_then(|kind| match kind {
        "workflow" | "agent" => Some(SpanKind::Agent),
        "task" => Some(SpanKind::Step),
        "tool" => Some(SpanKind::Tool),
        _ => None,
    });
    let by_attributes = if text(attributes, &["llm.request.type"]).is_some()
        || (text(attributes, &["gen_ai.system", "gen_ai.provider.name"]).is_some()
            && text(attributes, MODEL).is_some())
    {
        Some(SpanKind::Llm)
    } else if text(attributes, &["gen_ai.tool.name", "tool.name"]).is_some() {
        Some(SpanKind::Tool)
    } else {
        None
    };
    by_operation
        .or(by_openinference)
        .or(by_traceloop)
        .or(by_attributes)
        .unwrap_or(if is_root {
            SpanKind::Agent
        } else {
            SpanKind::Custom
        })
}
