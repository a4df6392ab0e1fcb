"""The local HTTP service (FastAPI + uvicorn): :mod:`.app` (endpoints), :mod:`.jobs` (queue, worker, events),
:mod:`.security` (host, token, body size), :mod:`.errors` (readable 4xx), :mod:`.serve` (run it, print the port),
:mod:`.client` (a stdlib client for scripts, tests and the benchmark)."""
