"""HTTP API for counters and kiosks (FastAPI app factory; see issue 5)."""
