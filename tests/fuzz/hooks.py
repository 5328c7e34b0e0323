"""Schemathesis hooks for runwire's fuzz test (tests/fuzz.rs).

- A well-formed Idempotency-Key is replaced by a fresh one for every request: reusing a key with
  another request is refused (422) by design, and the generator would otherwise reuse "0" for all.
  Malformed keys are left alone, so their refusal is still tested.
- Free-form JSON (metadata, result, evidence) is generated without what PostgreSQL cannot store and
  read back: a NUL character (jsonb refuses it) or a number beyond 1e300 (jsonb keeps it exact and
  writes it back as plain digits, which would not read back as a float). The API refuses both with a
  422 naming the field; JSON Schema has no way to say so for any JSON, so those cases are left out.
"""
import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[!-~]{1,200}$")
FREE_FORM = ("metadata", "result", "evidence", "attributes")


def unstorable(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return abs(value) > 1e300
    if isinstance(value, list):
        return any(unstorable(item) for item in value)
    if isinstance(value, dict):
        return any("\x00" in key or unstorable(item) for key, item in value.items())
    return False


def free_form_values(body):
    if isinstance(body, dict):
        for key, value in body.items():
            if key in FREE_FORM:
                yield value
            elif key in ("updates", "spans") and isinstance(value, list):
                for item in value:
                    yield from free_form_values(item)


@schemathesis.hook
def filter_body(context, body):
    return not any(unstorable(value) for value in free_form_values(body))


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED.match(key):
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
        case.headers = headers


# Refusals of schema-valid requests that depend on state or on two fields together, which JSON
# Schema cannot say: each is named by the error the API answers with.
STATE_DEPENDENT = (
    # a cursor is only good for the sort it came from
    ("bad_request", "this cursor continues a list sorted by"),
    # progress never moves backwards within an attempt
    ("validation", "cannot move backwards"),
    # a run keeps 20 checks and 1 MiB at most
    ("validation", "verification attempts"),
    ("validation", "the limit is 1048576"),
    # a new span needs a name; a report about a known one need not repeat it
    ("validation", "name must be 1 to 200 characters"),
    # a span's end and start, status and end, id and parent, checked together
    ("validation", "cannot be before started_at"),
    ("validation", "a running span has no ended_at"),
    ("validation", "a span cannot be its own parent"),
)
ACCEPTED = set(range(200, 400)) | {401, 403, 404, 409, 429} | set(range(500, 600))


@schemathesis.check
def accepts_valid_requests(ctx, response, case):
    """runwire's version of `positive_data_acceptance`: a request the document calls valid is
    accepted, unless its refusal is one of STATE_DEPENDENT."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code in ACCEPTED:
        return None
    try:
        body = response.json()
    except Exception:
        body = {}
    error = str(body.get("error", ""))
    if any(body.get("code") == code and words in error for code, words in STATE_DEPENDENT):
        return None
    raise AssertionError(
        f"Valid data should have been accepted: {response.status_code} {response.text[:300]}"
    )
