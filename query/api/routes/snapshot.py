"""``GET /v1/snapshot``: a point-in-time DuckDB copy of the ledger, streamed back (admin)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from provenance_ledger.ledger.snapshot import write_snapshot
from provenance_ledger.query.api.deps import State
from provenance_ledger.query.api.errors import ApiError

router = APIRouter(tags=["admin"])


@router.get(
    "/v1/snapshot",
    response_class=FileResponse,
    responses={
        200: {
            "description": "a DuckDB database file; open it with `duckdb -readonly FILE`",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def get_snapshot(state: State) -> FileResponse:
    """Every table as of one instant, while ingestion goes on (`provledger snapshot PATH`)."""
    folder = Path(tempfile.mkdtemp(prefix="provledger-snapshot-"))
    path = folder / "ledger-snapshot.duckdb"
    cursor = state.ledger.cursor()
    try:
        info = write_snapshot(cursor, path)
    except (OSError, duckdb.IOException) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(503, f"could not write the snapshot: {exc}") from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        cursor.close()
    stamp = info.taken_at.strftime("%Y%m%dT%H%M%SZ")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=f"provledger-{stamp}.duckdb",
        headers={"X-Provledger-Events": str(info.events), "X-Provledger-Taken-At": stamp},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
