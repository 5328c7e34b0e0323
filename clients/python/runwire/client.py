"""The synchronous client of the runwire agent API (standard library only).

    from runwire import RunwireClient
    client = RunwireClient("http://127.0.0.1:3000", token="rw_...")
    run = client.start_run("researcher", "Summarise the latest papers on RAG")
    client.update_progress(run["id"], 40, step="Reading papers")
    client.complete_run(run["id"], result={"summary": "..."})

    with client.span(run["id"], "agent", "researcher"):
        with client.span(run["id"], "llm", "draft answer", model="gpt-4o-mini") as call:
            answer = call_the_model()                   # your code
            call.usage(input_tokens=1200, output_tokens=300)
            call.set(output=answer)

        @client.tool(run["id"])
        def web_search(query):                          # a span per call, nested in the open one
            ...

Every write carries an Idempotency-Key. Network errors, 5xx and 429 answers are retried with the same
key and exponential backoff, so a retry can never apply an update twice. Other errors raise
RunwireError with the server's message, code and HTTP status.
"""

import contextvars
import functools
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

__all__ = ["RunwireClient", "RunwireError", "Span"]


class RunwireError(Exception):
    """The server refused a request: `status` (HTTP), `code` (stable name) and the message."""

    def __init__(self, status, code, message, field=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class RunwireClient:
    def __init__(self, base_url, token, timeout=10.0, retries=5, backoff=0.2):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    # -- runs -------------------------------------------------------------------------------------

    def start_run(self, agent_name, task, task_id=None, metadata=None, status="in_progress", user_id=None):
        """Starts a run. `task_id`: a UUID or any text ("task_123"); `user_id`: whose run it is, for a
        service token (scope runs:write:any), by runwire id or external id."""
        body = {"agent_name": agent_name, "task": task, "status": status}
        if task_id is not None:
            body["task_id"] = str(task_id)
        if user_id is not None:
            body["user_id"] = str(user_id)
        if metadata is not None:
            body["metadata"] = metadata
        return self._write("/api/v1/runs", body)

    def update_progress(self, run_id, percent, step=None):
        return self._write(f"/api/v1/runs/{run_id}/progress", _without_none(percent=percent, step=step))

    def update_status(self, run_id, status, step=None):
        return self._write(f"/api/v1/runs/{run_id}/status", _without_none(status=status, step=step))

    def add_verification(self, run_id, passed, evidence=None):
        return self._write(f"/api/v1/runs/{run_id}/verification", {"passed": passed, "evidence": evidence})

    def complete_run(self, run_id, result=None, evidence=None):
        return self._write(f"/api/v1/runs/{run_id}/complete", _without_none(result=result, evidence=evidence))

    def fail_run(self, run_id, error):
        return self._write(f"/api/v1/runs/{run_id}/fail", {"error": error})

    def cancel_run(self, run_id, reason=None):
        return self._write(f"/api/v1/runs/{run_id}/cancel", _without_none(reason=reason))

    def send_updates(self, run_id, updates):
        """Several updates ({"type": "progress", "percent": 10}, ...) applied in order, all or nothing."""
        return self._write(f"/api/v1/runs/{run_id}/events", {"updates": list(updates)})

    def get_run(self, run_id):
        return self._request("GET", f"/api/v1/runs/{run_id}")

    def list_runs(self, **filters):
        """Filters: status ("failed,completed"), agent, task_id, active, search, cursor, limit."""
        query = urllib.parse.urlencode({k: _query_value(v) for k, v in filters.items() if v is not None})
        return self._request("GET", "/api/v1/runs" + (f"?{query}" if query else ""))

    def events(self, run_id, after=0):
        return self._request("GET", f"/api/v1/runs/{run_id}/events?after={after}")["events"]

    # -- spans: what the agent did inside a run (LLM calls, tool calls, steps) -----------------

    def record_spans(self, run_id, spans):
        """Span starts, changes and ends ({"span_id": ..., "name": ..., "kind": "llm", ...}), in order.
        Returns {"run": ..., "spans": [...]}; the run carries its token and cost totals."""
        return self._write(f"/api/v1/runs/{run_id}/spans", {"spans": list(spans)})

    def spans(self, run_id):
        """Every span of the run, by start time."""
        found, after = [], None
        while True:
            query = "?limit=1000" + (f"&after={urllib.parse.quote(after)}" if after else "")
            page = self._request("GET", f"/api/v1/runs/{run_id}/spans{query}")
            found.extend(page["spans"])
            after = page.get("next_after")
            if not after:
                return found

    def span(self, run_id, kind, name, model=None, parent=None, **fields):
        """A span reported as it happens: started on entering the `with` block, ended on leaving it
        (with status "error" and the exception's text if one escapes). `kind`: agent, llm, tool,
        retrieval, step or custom. A span opened inside another's block is its child (the context
        follows threads and asyncio tasks); `parent` overrides that."""
        return Span(self, run_id, kind, name, model, parent, fields)

    def tool(self, run_id, name=None):
        """A decorator: each call of the function is a tool span (its arguments as input, its
        return value as output), nested in the span open where it is called."""
        def wrap(function):
            @functools.wraps(function)
            def traced(*args, **kwargs):
                call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
                with self.span(run_id, "tool", name or function.__name__, input=call) as span:
                    result = function(*args, **kwargs)
                    span.set(output=repr(result))
                    return result
            return traced
        return wrap

    # -- transport --------------------------------------------------------------------------------

    def _write(self, path, body):
        return self._request("POST", path, body, idempotency_key=str(uuid.uuid4()))

    def _request(self, method, path, body=None, idempotency_key=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        attempt = 0
        while True:
            request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as err:
                payload = _json_or_none(err.read())
                retryable = err.code == 429 or err.code >= 500
                if not retryable or attempt >= self.retries:
                    payload = payload or {}
                    raise RunwireError(err.code, payload.get("code", "http_error"),
                                       payload.get("error", err.reason), payload.get("field")) from None
                delay = _retry_after(err) or self._delay(attempt)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if attempt >= self.retries:
                    raise
                delay = self._delay(attempt)
            attempt += 1
            time.sleep(delay)

    def _delay(self, attempt):
        return self.backoff * (2 ** attempt) * (0.5 + random.random())


# The span open in this thread or asyncio task: a new span's parent unless told otherwise.
_current_span = contextvars.ContextVar("runwire_current_span", default=None)


class Span:
    """One span of a run, as a context manager. `usage()` records tokens (and cost, if known);
    `set()` anything else the end should carry: output, attributes, model."""

    def __init__(self, client, run_id, kind, name, model, parent, fields):
        self.client, self.run_id = client, run_id
        self.span_id = uuid.uuid4().hex[:16]
        parent = parent if parent is not None else _current_span.get()
        if isinstance(parent, Span) and parent.run_id != run_id:
            parent = None
        self.start = _without_none(span_id=self.span_id, name=name, kind=kind, model=model,
                                   parent_span_id=getattr(parent, "span_id", parent), **fields)
        self.end = {}
        self._token = None

    def usage(self, input_tokens=None, output_tokens=None, cache_read_tokens=None,
              reasoning_tokens=None, cost_usd=None):
        self.end.update(_without_none(input_tokens=input_tokens, output_tokens=output_tokens,
                                      cache_read_tokens=cache_read_tokens,
                                      reasoning_tokens=reasoning_tokens, cost_usd=cost_usd))
        return self

    def set(self, **fields):
        self.end.update(fields)
        return self

    def __enter__(self):
        self.client.record_spans(self.run_id, [self.start])
        self._token = _current_span.set(self)
        return self

    def __exit__(self, kind, error, traceback):
        _current_span.reset(self._token)
        end = {"span_id": self.span_id, "status": "ok", **self.end}
        if error is not None:
            end.update(status="error", error=f"{kind.__name__}: {error}")
        self.client.record_spans(self.run_id, [end])
        return False


def _without_none(**fields):
    return {k: v for k, v in fields.items() if v is not None}


def _query_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_or_none(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _retry_after(err):
    try:
        return float(err.headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None
