"""The HTTP ceiling for the ingest benchmark: FastAPI reading a body and answering 202, nothing else."""

from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.post("/v1/reports", status_code=202)
async def post(request: Request) -> dict:
    await request.body()
    return {"status": "accepted"}
