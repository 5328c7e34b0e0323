"""An agent instrumented with the official OpenTelemetry Python SDK and nothing of runwire's: its
OTLP/HTTP exporter is pointed at runwire by the two standard environment variables.

    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:3000
    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20rw_..."
    python examples/opentelemetry/otel_agent.py

It plans a trip: an `invoke_agent` root span, two `chat` LLM calls and an `execute_tool` call,
with the GenAI semantic conventions' attributes (model, tokens, conversation id). It prints the
trace id, which runwire keeps in the run's metadata.

Needs `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http` (`make test` puts
them in the project's .venv).
"""

import json
import sys
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

AGENT = "trip-planner"
CONVERSATION = "conv-otel-1"


def chat(tracer, model, prompt, answer, input_tokens, output_tokens):
    with tracer.start_as_current_span(f"chat {model}", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.conversation.id", CONVERSATION)
        span.set_attribute(
            "gen_ai.input.messages", json.dumps([{"role": "user", "content": prompt}])
        )
        time.sleep(0.02)
        span.set_attribute(
            "gen_ai.output.messages", json.dumps([{"role": "assistant", "content": answer}])
        )
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        return answer


def search_trains(tracer, origin, destination):
    with tracer.start_as_current_span("execute_tool search_trains") as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", "search_trains")
        span.set_attribute(
            "gen_ai.tool.call.arguments", json.dumps({"from": origin, "to": destination})
        )
        time.sleep(0.01)
        result = [{"departs": "09:40", "arrives": "11:36"}]
        span.set_attribute("gen_ai.tool.call.result", json.dumps(result))
        return result


def main():
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-example"}))
    # endpoint and headers come from OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_HEADERS
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("runwire.example", "1.0")

    with tracer.start_as_current_span(f"invoke_agent {AGENT}") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", AGENT)
        root.set_attribute("gen_ai.conversation.id", CONVERSATION)
        trace_id = format(root.get_span_context().trace_id, "032x")
        chat(tracer, "gpt-4o-mini", "Plan: Paris to Lyon tomorrow morning", "Search trains.", 1200, 80)
        trains = search_trains(tracer, "Paris", "Lyon")
        chat(tracer, "gpt-4o", f"Pick one of {trains}", "Take the 09:40.", 900, 150)
        root.set_attribute("gen_ai.output.messages", json.dumps("Take the 09:40 train."))
        root.set_status(Status(StatusCode.OK))

    # shutdown flushes the batch processor; a failed export is logged by the SDK, so check it here
    if not provider.force_flush(10_000):
        print("export did not finish", file=sys.stderr)
        sys.exit(1)
    provider.shutdown()
    print(trace_id)


if __name__ == "__main__":
    main()
