"""The publisher block of the system runwire replaces, verbatim, with only the import changed.

    RUNWIRE_URL=http://127.0.0.1:3000 RUNWIRE_TOKEN=rw_... python3 examples/python/dropin_publisher.py

With a service token (scope runs:write:any), `user_456` is the external id of a runwire user. Prints
the run id.
"""

import asyncio

from runwire import AgentEventPublisher


async def main():
    final_result = {"route": "billing", "answer": "Refund issued"}

    publisher = AgentEventPublisher()
    run_id = await publisher.start_run(task_id="task_123", user_id="user_456", agent_name="orchestrator")
    await publisher.update_progress(run_id, "Routing task", 20.0)          # (run_id, step, progress)
    await publisher.update_status(run_id, "awaiting_verification", "Verifying")
    await publisher.complete_run(run_id, result=final_result)              # straight from awaiting_verification

    print(run_id)


asyncio.run(main())
