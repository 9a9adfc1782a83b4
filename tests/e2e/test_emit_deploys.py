"""``provledger emit service.deployed`` as CI runs it: CI context fills the envelope and the
data, and `commits` comes from git since the previous deployment the API knows."""

from __future__ import annotations

import json

import httpx

from tests.support.git_repo import commit, init


def stored(server, event_id: str) -> dict:
    response = httpx.post(
        f"{server.url}/v1/sql",
        json={"sql": f"SELECT source, data FROM events WHERE id = '{event_id}'"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    source, data = response.json()["rows"][0]
    return {"source": source, **json.loads(data)}


def test_deploys_carry_the_commits_since_the_previous_one(start_server, tmp_path):
    repo = init(tmp_path / "shop")
    shas = [commit(repo, f"change {n}", {f"f{n}.txt": f"{n}\n"}, when=n) for n in range(5)]
    server = start_server({"PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    ci = {
        "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "77", "GITHUB_ACTOR": "ann",
    }  # fmt: skip
    server.env = {**server.env, **ci}

    def deploy(version: str, head: str, *extra: str) -> dict:
        server.env["GITHUB_SHA"] = head
        result = server.cli("emit", "service.deployed", "--service", "checkout",
                            "--environment", "prod", "--version", version,
                            "--repo-path", str(repo), *extra)  # fmt: skip
        event_id = result.stdout.strip()
        server.wait_for_events(len(deploy.ids) + 1)
        deploy.ids.append(event_id)
        return stored(server, event_id)

    deploy.ids = []
    first = deploy("1.0", shas[1])
    assert first["source"] == "ci/github/acme/shop"
    assert (first["repo"], first["commit"], first["commits"]) == ("acme/shop", shas[1], [shas[1]])
    assert first["deployer"] == {"id": "ann", "kind": "human"}

    second = deploy("1.1", shas[4])
    assert second["commits"] == [shas[4], shas[3], shas[2]]

    third = deploy("1.2", shas[4], "--since-commit", shas[2])
    assert third["commits"] == [shas[4], shas[3]]


def test_outside_ci_the_head_of_the_work_tree_is_deployed(start_server, tmp_path):
    repo = init(tmp_path / "shop", remote="https://github.com/acme/shop.git")
    shas = [commit(repo, f"change {n}", {f"f{n}.txt": f"{n}\n"}, when=n) for n in range(3)]
    server = start_server({"PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    result = server.cli("emit", "service.deployed", "--service", "search", "--environment",
                        "prod", "--version", "7", "--repo-path", str(repo),
                        "--since-commit", shas[0])  # fmt: skip
    server.wait_for_events(1)
    data = stored(server, result.stdout.strip())
    assert (data["repo"], data["commit"], data["commits"]) == ("acme/shop", shas[2], shas[:0:-1])
    assert data["source"].startswith("cli/")
