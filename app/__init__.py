"""support-agent: the FastAPI server (REST, WebSocket, storage, services)."""

__version__ = "0.1.0"
