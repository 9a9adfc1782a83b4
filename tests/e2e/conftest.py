"""Drive the real CLI and a real ``provledger serve`` subprocess, as a user would.

``start_server`` starts servers for one test; ``start_module_server`` for every test of a
module, where no test changes what the others read (it saves a server start per test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from provenance_ledger.ledger.settings import Settings
from tests.support.servers import Running, Servers


@pytest.fixture
def start_server(settings: Settings) -> Iterator[Callable[..., Running]]:
    """Starts ``provledger serve`` on a free port and waits until /healthz answers."""
    servers = Servers(settings)
    yield servers.start
    servers.stop_all()


@pytest.fixture(scope="module")
def start_module_server(module_settings: Settings) -> Iterator[Callable[..., Running]]:
    """``start_server`` for a module-scoped fixture: the servers live until the module ends."""
    servers = Servers(module_settings)
    yield servers.start
    servers.stop_all()
