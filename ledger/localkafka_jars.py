"""The local broker's jars, fetched once from Maven Central with their checksums enforced
(Maven is needed for that first run only)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from provenance_ledger.ledger.localkafka_config import (
    KAFKA_VERSION,
    LOG4J_VERSION,
    BrokerError,
    last_lines,
    locked,
    require,
)

MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def render_pom() -> str:
    """A throwaway pom whose only job is to let Maven resolve the broker's runtime classpath."""
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>provledger.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def ensure_jars(say: Callable[[str], None], home: Path) -> Path:
    """The folder of the broker's jars under ``home`` (localkafka_config.cache_dir), fetched
    first if this version has none yet."""
    lib, done = home / "lib", home / ".complete"
    with locked(home.parent / f"kafka-{KAFKA_VERSION}.lock"):
        if done.exists():
            return lib
        mvn = require(
            "mvn", "install Maven, needed once to fetch the Kafka jars (e.g. apt-get install maven)"
        )
        say(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (first run only)…")
        shutil.rmtree(lib, ignore_errors=True)  # whatever an interrupted fetch left behind
        home.mkdir(parents=True, exist_ok=True)
        (home / "pom.xml").write_text(render_pom())
        result = subprocess.run(
            maven_command(mvn, home / "m2"),
            cwd=home, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if result.returncode != 0:
            output = last_lines((result.stdout + result.stderr).splitlines())
            raise BrokerError(f"Maven could not fetch the Kafka jars (in {home}):\n{output}")
        problems = jar_checksum_problems(lib, home / "m2")
        if problems:
            shutil.rmtree(lib, ignore_errors=True)
            raise BrokerError(
                "the fetched Kafka jars do not match Maven Central's checksums:\n"
                + "\n".join(problems)
            )
        done.touch()
        return lib


def maven_command(mvn: str, repo: Path) -> list[str]:
    """Fetch the broker's runtime jars into lib/ with checksums enforced.

    --strict-checksums fails on a checksum that does not match (or is missing) instead of
    warning; a private local repository means every jar is downloaded, and so checked,
    rather than taken from a ~/.m2 that anything may have written to.
    """
    return [mvn, "-B", "-q", "--strict-checksums", f"-Dmaven.repo.local={repo}",
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies", "-DoutputDirectory=lib",
            "-DincludeScope=runtime", "-Dstyle.color=never"]  # fmt: skip


def jar_checksum_problems(lib: Path, repo: Path) -> list[str]:
    """Each jar in lib/ against the SHA-1 Maven downloaded beside it into the local
    repository: what copy-dependencies put in lib/ is what Central's checksums vouch for."""
    recorded = {path.name: path for path in repo.rglob("*.jar")}
    problems = []
    for jar in sorted(lib.glob("*.jar")):
        source = recorded.get(jar.name)
        checksum = source.with_name(source.name + ".sha1") if source else None
        if checksum is None or not checksum.is_file():
            problems.append(f"{jar.name}: no checksum from the repository")
            continue
        words = checksum.read_text().split()
        expected = words[0].lower() if words else ""
        actual = hashlib.sha1(jar.read_bytes(), usedforsecurity=False).hexdigest()
        if actual != expected:
            problems.append(f"{jar.name}: sha1 {actual}, the repository says {expected!r}")
    if not problems and not any(lib.glob("*.jar")):
        problems.append(f"no jars in {lib}")
    return problems
