"""The HTTP gateway (`uvicorn api.main:app`): keys and tenants, uploads to storage, jobs on
the queue, status and downloads. No video code."""
