"""runwire's Python clients, standard library only: `RunwireClient` (synchronous, with spans) and
`AgentEventPublisher` (asyncio, a drop-in for the publisher of the system runwire replaces)."""

from .client import RunwireClient, RunwireError, Span
from .publisher import AgentEventPublisher

__all__ = ["AgentEventPublisher", "RunwireClient", "RunwireError", "Span"]
__version__ = "0.1.0"
