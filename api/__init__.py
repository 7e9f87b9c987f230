"""The HTTP API: plenigo-compatible endpoints under /api/v3.0, served by uvicorn."""
