"""AI assistance from what real tools write into commits; rules are data users extend."""

from __future__ import annotations

import pytest

from provenance_ledger.producers.ai_detect import CommitText, destructive_action, detect, load_rules

HUMAN = "Ann Dev <ann@acme.example>"
CASES = [
    ("claude with model", HUMAN,
     "Fix\n\nCo-Authored-By: Claude Opus 4.1 <noreply@anthropic.com>",
     [("claude-code", "claude-opus-4.1")]),
    ("claude plain + footer", HUMAN,
     "Fix\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
     "Co-Authored-By: Claude <noreply@anthropic.com>", [("claude-code", None)]),
    ("lower-case trailer", HUMAN, "x\n\nco-authored-by: claude sonnet 4.5 <noreply@anthropic.com>",
     [("claude-code", "claude-sonnet-4.5")]),
    ("copilot + cursor", HUMAN,
     "x\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>\n"
     "Co-authored-by: Cursor Agent <cursoragent@cursor.com>",
     [("copilot", None), ("cursor", None)]),
    ("copilot bot author", "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
     "Initial plan", [("copilot-agent", None)]),
    ("devin bot author",
     "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
     "x", [("devin", None)]),
    ("aider author", "Paul (aider) <paul@acme.example>", "feat: x", [("aider", None)]),
    ("aider prefix", HUMAN, "aider: add retries", [("aider", None)]),
    ("aider co-author", HUMAN, "x\n\nCo-authored-by: aider (openai/gpt-4o) <noreply@aider.chat>",
     [("aider", "openai/gpt-4o")]),
    ("kernel assisted-by", HUMAN, "x\n\nAssisted-by: Claude:claude-3-opus coccinelle sparse",
     [("claude-code", "claude-3-opus")]),
    ("ASSISTED-BY gemini", HUMAN, "x\n\nASSISTED-BY: Gemini:gemini-2.5-pro",
     [("gemini-cli", "gemini-2.5-pro")]),
    ("codex + gemini", HUMAN,
     "x\n\nCo-authored-by: Codex <codex@openai.com>\n"
     "Co-authored-by: Gemini CLI <gemini-cli@google.com>",
     [("codex", None), ("gemini-cli", None)]),
    ("human co-author only", HUMAN, "x\n\nCo-authored-by: Bob <bob@acme.example>", []),
    ("mentions claude in prose", HUMAN, "Explain why Claude is not a dependency", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "author", "message", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_detect(name, author, message, expected):
    found = detect(CommitText(author, message))
    assert [(entry["tool"], entry.get("model")) for entry in found] == expected


def test_users_extend_the_rules(tmp_path):
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "aliases: {acme bot: acme-agent}\n"
        "rules:\n"
        "  - {part: coauthor, tool: '{name}', pattern: '^(?P<name>acme bot)\\s*<'}\n"
        "destructive_commands:\n"
        "  - {action: wipe_cache, pattern: 'redis-cli flushall'}\n"
    )
    rules = load_rules(str(extra))
    found = detect(CommitText(HUMAN, "x\n\nCo-authored-by: ACME Bot <bot@acme.example>"), rules)
    assert found == [{"tool": "acme-agent"}]
    assert destructive_action("redis-cli FLUSHALL", rules) == "wipe_cache"


@pytest.mark.parametrize(
    ("command", "action"),
    [
        ("terraform destroy -auto-approve", "destroy_infrastructure"),
        ("terraform -chdir=infra apply -destroy", "destroy_infrastructure"),
        ("kubectl -n prod delete deploy/checkout", "delete_resource"),
        ("psql -c 'drop table users'", "drop_table"),
        ("./scripts/delete-environment.sh staging", "delete_environment"),
        ("make recreate-env ENV=prod", "recreate_environment"),
        ("gh api -X DELETE repos/acme/shop/environments/prod", "delete_environment"),
        ("ls -la && pytest -q", None),
        ("kubectl get pods", None),
    ],
)
def test_destructive_commands(command, action):
    assert destructive_action(command) == action


MB = 1 << 20
HOSTILE = {
    # The reported one: cubic in the spaces before the fix (1,000 took 2 s, 4,000 took 119 s).
    "claude then spaces": ("Fix\n\nCo-authored-by: claude" + " " * MB + "x", []),
    "aider then spaces": ("Fix\n\nCo-authored-by: aider" + " " * MB + "x", []),
    # A tool named in words is its first 64 characters.
    "assisted-by words": (
        "Fix\n\nAssisted-by: a" + " a" * (MB // 2),
        [{"tool": "-".join("a" * 32)}],
    ),
    "many trailers": ("Fix\n\n" + "Co-authored-by: claude code (\n" * (MB // 30), []),
    "trailer-like lines": (("claude" + " " * 50 + "\n") * (MB // 57), []),
}


@pytest.mark.timeout(5)
@pytest.mark.parametrize(("message", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_megabyte_of_hostile_message_is_handled(message, expected):
    """Finishes at once (a backtracking pattern would take minutes: pytest-timeout fails it);
    the speed itself is measured in bench/bench_detect.py."""
    assert detect(CommitText("A" * MB + " <a@x>", message, "B" * MB)) == expected


def test_a_real_trailer_still_counts_after_hostile_ones():
    message = (
        "Fix\n\n" + "Co-authored-by: x\n" * 10 + " co-authored-by : Claude <noreply@anthropic.com>"
    )
    assert detect(CommitText(HUMAN, message)) == [{"tool": "claude-code", "mode": "agent"}]


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "command",
    ["gh api -X DELETE " * (MB // 17), "terraform " * (MB // 10), "kubectl " * (MB // 8)],
    ids=["gh", "terraform", "kubectl"],
)
def test_a_megabyte_of_hostile_command_is_handled(command):
    assert destructive_action(command) is None


def test_destructive_patterns_see_each_simple_command():
    assert destructive_action("gh api repos/acme/shop/environments/prod -X DELETE") == (
        "delete_environment"
    )
    assert (
        destructive_action("echo ok\nterraform destroy -auto-approve") == "destroy_infrastructure"
    )
    assert destructive_action("terraform plan; echo destroy") is None
