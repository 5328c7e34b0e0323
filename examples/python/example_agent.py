#!/usr/bin/env python3
"""A fake multi-step research agent that reports its run to runwire.

    RUNWIRE_URL=http://127.0.0.1:3000 RUNWIRE_TOKEN=rw_... python3 example_agent.py

It plans, calls tools, writes, fails its first verification, retries, passes and completes with a
JSON result; open the dashboard to watch it live. Prints the run id on success.
"""

import argparse
import os
import sys
import time

try:
    from runwire import RunwireClient, RunwireError  # pip install ./clients/python
except ImportError:  # run from a checkout without installing it
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../clients/python"))
    from runwire import RunwireClient, RunwireError  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("RUNWIRE_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--token", default=os.environ.get("RUNWIRE_TOKEN"))
    parser.add_argument("--delay", type=float, default=0.8, help="seconds per step")
    parser.add_argument("--task", default="Survey recent work on retrieval-augmented generation")
    args = parser.parse_args()
    if not args.token:
        parser.error("an API token is needed: --token or RUNWIRE_TOKEN (create one on /settings/tokens)")

    client = RunwireClient(args.url, args.token)
    run = client.start_run("researcher-py", args.task, metadata={"model": "example", "client": "python"})
    run_id = run["id"]
    pause = lambda: time.sleep(args.delay)  # noqa: E731
    try:
        with client.span(run_id, "agent", "researcher-py"):
            for percent, step in [(10, "Planning the search"), (25, "Calling search tool"),
                                  (45, "Reading 12 papers"), (70, "Writing the summary")]:
                client.update_progress(run_id, percent, step=step)
                report_step(client, run_id, step)
                pause()
        client.update_status(run_id, "awaiting_verification", step="Waiting for the fact checker")
        pause()
        client.update_status(run_id, "verifying", step="Checking citations")
        client.add_verification(run_id, False, evidence={"missing_citations": 2})
        pause()
        client.update_status(run_id, "retrying", step="Adding the missing citations")
        client.update_status(run_id, "in_progress")
        client.update_progress(run_id, 60, step="Rewriting two paragraphs")
        pause()
        client.update_status(run_id, "awaiting_verification")
        client.update_status(run_id, "verifying", step="Checking citations again")
        pause()
        client.complete_run(run_id,
                            result={"papers": 12, "summary": "Retrieval recall dominates answer quality."},
                            evidence={"citations_checked": 14, "missing": 0})
    except RunwireError as err:
        print(f"runwire refused an update: {err}", file=sys.stderr)
        client.fail_run(run_id, str(err))
        return 1
    print(run_id)
    return 0


def report_step(client, run_id, step):
    """What a real agent's step does, as spans: the search is a tool call, the rest LLM calls.
    Each nests in the agent span open around it."""
    if step == "Calling search tool":
        @client.tool(run_id)
        def web_search(query, limit=12):
            return [f"paper {n}" for n in range(limit)]

        web_search("retrieval-augmented generation 2026")
        return
    with client.span(run_id, "llm", "chat", model="gpt-4o-mini", input=f"{step}: what next?") as call:
        call.usage(input_tokens=1000, output_tokens=250, cache_read_tokens=200)
        call.set(output="Next: carry on.")


if __name__ == "__main__":
    sys.exit(main())
