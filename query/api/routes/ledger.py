"""The ledger's own routes: ``POST /v1/ledger/verify``, the Merkle log check for a ledger a
running server holds open (DuckDB lets no other process read the file then; admin scope: it
reads every event), ``GET /v1/ledger/checkpoint``, the stored head as a signed note, and
``GET /v1/ledger/proof``, one record's inclusion proof."""

from __future__ import annotations

import logging
from typing import Any

import duckdb
from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from provenance_ledger.ledger import logstore, proofs, signednote
from provenance_ledger.ledger.checkpoint import Checkpoint, CheckpointError, origin_for, parse
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.verify import verify
from provenance_ledger.query.api.deps import Cursor, SettingsDep, require
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.schemas.errors import UsageProblem

router = APIRouter(tags=["ledger"])
log = logging.getLogger(__name__)
NOTE_TYPE = "text/plain; charset=utf-8"


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(
        default=None,
        max_length=10_000,
        description="A C2SP checkpoint kept earlier (from `provledger verify --checkpoint`): "
        "the answer then carries an RFC 6962 consistency proof from it to the current head.",
    )


@router.post("/v1/ledger/verify", dependencies=[Depends(require("admin"))])
def verify_ledger(body: VerifyRequest, cursor: Cursor, settings: SettingsDep) -> dict[str, Any]:
    """Recompute the RFC 6962 tree over the stored events: `ok`, the size, root and C2SP
    checkpoint body (`signed_checkpoint`: that body as a signed note when the server has a
    signing key and the ledger verified), and the first changed, inserted or deleted row."""
    try:
        since = parse(body.since) if body.since is not None else None
    except CheckpointError as exc:
        raise ApiError(422, str(exc)) from exc
    report = verify(cursor, settings.topic, since).to_json()
    try:
        signer = _signer(settings)
    except ApiError:
        signer = None  # a verdict does not depend on the signing key; the log says what is wrong
    report["signed_checkpoint"] = (
        signednote.sign(report["checkpoint"], signer) if signer and report["ok"] else None
    )
    return report


@router.get(
    "/v1/ledger/checkpoint",
    dependencies=[Depends(require("read"))],
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        404: {"description": "Off: no signing key is configured (PROVLEDGER_SIGNING_KEY_FILE)."},
        503: {"description": "The signing key file cannot be read or is not a key."},
    },
)
def checkpoint(cursor: Cursor, settings: SettingsDep) -> PlainTextResponse:
    """The latest tree head the ledger stored, as a C2SP checkpoint (origin, size, base64 RFC
    6962 root) in a C2SP signed note with the server's Ed25519 key. Keep it where the
    ledger's operators cannot write; `provledger verify --since FILE --key VERIFIER_KEY`
    later checks the signature and that the ledger only grew since."""
    signer = _signer(settings)
    if signer is None:  # off, as a webhook without its secret is: never an unsigned checkpoint
        raise ApiError(
            404, "checkpoints are not signed here: set PROVLEDGER_SIGNING_KEY_FILE on the server"
        )
    body = _stored_head(cursor, origin_for(settings.topic)).body()
    return PlainTextResponse(signednote.sign(body, signer), media_type=NOTE_TYPE)


@router.get(
    "/v1/ledger/proof",
    dependencies=[Depends(require("read"))],
    responses={404: {"description": "No record of the log is the one named."}},
)
def proof(
    cursor: Cursor,
    settings: SettingsDep,
    source: str | None = Query(default=None, max_length=2048),
    id: str | None = Query(default=None, max_length=2048),
    partition: int | None = Query(default=None, ge=0, le=2**31 - 1),
    offset: int | None = Query(default=None, ge=0, le=2**63 - 1),
) -> dict[str, Any]:
    """The inclusion proof of one record of the log: by `source` and `id` (the accepted
    event, else the latest record refused under that name) or by `partition` and `offset`.
    The record's entry and outcome (accepted, duplicate, dead letter with its reason), its
    RFC 6962 audit path to its partition's root, that partition's path to the log's root, and
    `checkpoint`: the head they lead to, as a signed note when the server has a signing key.
    `provledger verify-proof` checks it offline."""
    try:
        wanted = proofs.Wanted(source, id, partition, offset)
    except UsageProblem as exc:
        raise ApiError(422, str(exc)) from exc
    try:
        document, head = proofs.prove(cursor, settings.topic, wanted)
    except proofs.NotInLog as exc:
        raise ApiError(404, str(exc)) from exc
    signer = _signer(settings)
    body = head.body()
    return {**document, "checkpoint": signednote.sign(body, signer) if signer else body}


def _stored_head(cursor: duckdb.DuckDBPyConnection, origin: str) -> Checkpoint:
    head = logstore.latest_head(cursor)
    return Checkpoint(origin, head.size, head.root, head.cut)


def _signer(settings: Settings) -> signednote.SignerKey | None:
    """The signing key, None when none is configured; read on each use (a file of under 100
    bytes) so a replaced key takes effect at once. 503 when the file is unusable."""
    path = settings.api.signing_key_file
    if path is None:
        return None
    try:
        return signednote.load_signer_key(path)
    except signednote.KeyFormatError as exc:
        log.error("the checkpoint signing key is unusable: %s", exc)
        raise ApiError(
            503, "the signing key (PROVLEDGER_SIGNING_KEY_FILE) is unusable; see the server log"
        ) from exc
