"""AI detection on hostile commit messages and agent commands: time per input, worst case.

Each input is about SIZE bytes (default 1 MiB) built to make backtracking regexes blow up
(the reported one: ``Co-authored-by: claude`` + spaces + ``x``, cubic before the fix: 1,000
spaces took 2 s, 4,000 took 119 s). Linear code handles each in a fraction of a second.

    python bench/bench_detect.py [--size 1048576] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from provenance_ledger.producers.ai_detect import (
    CommitText,
    default_rules,
    destructive_action,
    detect,
)

TOOLS = ["claude", "claude code", "codex", "devin", "aider", "copilot", "cursor", "gemini"]


def messages(size: int) -> dict[str, str]:
    found = {}
    for tool in TOOLS:
        found[f"{tool} + spaces"] = "Fix\n\nCo-authored-by: " + tool + " " * size + "x"
        found[f"{tool} trailers"] = "Fix\n\n" + f"Co-authored-by: {tool} (\n" * (size // 30)
    found["assisted-by words"] = "Fix\n\nAssisted-by: a" + " a" * (size // 2)
    found["newlines"] = "\n" * size
    return found


def commands(size: int) -> dict[str, str]:
    words = ["gh api -X DELETE ", "terraform ", "kubectl ", "tofu apply ", "gcloud "]
    return {word.strip(): word * (size // len(word)) for word in words}


def best(rounds: int, call) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rules = default_rules()
    results = {}
    for name, text in messages(args.size).items():
        commit = CommitText("Ann <ann@acme.example>", text)
        results[f"message: {name}"] = best(args.rounds, lambda c=commit: detect(c, rules))
    for name, text in commands(args.size).items():
        results[f"command: {name}"] = best(args.rounds, lambda t=text: destructive_action(t, rules))
    for name, seconds in results.items():
        print(f"{name:36} {seconds * 1000:8.1f} ms")
    worst = max(results, key=results.__getitem__)
    print(f"worst: {worst} {results[worst] * 1000:.1f} ms for {args.size:,} bytes")


if __name__ == "__main__":
    main()
