"""An asyncio `AgentEventPublisher` with the method names, argument order and keywords of the
publisher in the system runwire replaces, so its agents switch by changing an import:

    from runwire import AgentEventPublisher      # RUNWIRE_URL and RUNWIRE_TOKEN in the environment

    publisher = AgentEventPublisher()
    run_id = await publisher.start_run(task_id="task_123", user_id="user_456", agent_name="orchestrator")
    await publisher.update_progress(run_id, "Routing task", 20.0)          # (run_id, step, progress)
    await publisher.update_status(run_id, "awaiting_verification", "Verifying")
    await publisher.complete_run(run_id, result=final_result)

`task_id` may be any text; runwire maps it to a UUID and keeps the text on the run. `user_id` names
the end user whose run it is; with one backend key for many users, that key is a service token
(scope runs:write:any) and `user_id` a runwire user id or the external id an admin gave the user.

Each call runs the synchronous client in a worker thread (`asyncio.to_thread`), so it keeps that
client's idempotency keys and retries (network errors, 5xx and 429, with backoff).
"""

import asyncio
import os

from .client import RunwireClient

__all__ = ["AgentEventPublisher"]


class AgentEventPublisher:
    def __init__(self, url=None, token=None, *, timeout=10.0, retries=5, backoff=0.2):
        url = url or os.environ.get("RUNWIRE_URL")
        token = token or os.environ.get("RUNWIRE_TOKEN")
        if not url or not token:
            raise ValueError(
                "AgentEventPublisher needs the runwire URL and an API token: pass url= and token=, "
                "or set RUNWIRE_URL and RUNWIRE_TOKEN"
            )
        self.client = RunwireClient(url, token, timeout=timeout, retries=retries, backoff=backoff)

    async def _call(self, method, *args, **kwargs):
        return await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)

    async def start_run(self, task_id, user_id=None, agent_name="agent", task=None, metadata=None,
                        status="in_progress"):
        """Starts a run and returns its id (a string)."""
        run = await self._call(
            "start_run", agent_name, task or str(task_id), task_id=task_id, metadata=metadata,
            status=status, user_id=user_id,
        )
        return run["id"]

    async def update_progress(self, run_id, step, progress):
        """Reports progress: `step` is what the agent is doing, `progress` a percentage (0-100)."""
        return await self._call("update_progress", run_id, progress, step=step)

    async def update_status(self, run_id, status, step=None):
        return await self._call("update_status", run_id, status, step=step)

    async def add_verification(self, run_id, passed, evidence=None):
        """Records a verification attempt: whether it passed, and its evidence (any JSON)."""
        return await self._call("add_verification", run_id, passed, evidence=evidence)

    async def complete_run(self, run_id, result=None, evidence=None):
        return await self._call("complete_run", run_id, result=result, evidence=evidence)

    async def fail_run(self, run_id, error):
        return await self._call("fail_run", run_id, str(error))

    async def cancel_run(self, run_id, reason=None):
        return await self._call("cancel_run", run_id, reason=reason)
