"""An outside client generator finds nothing: schemathesis, every check, every phase.

Run against `switchyard run` on the test topology in this run's mode, with one replica
replaying 0.5 s behind: the stateful phase creates resources and reads them back through the
document's links, which carry each write's X-DB-LSN into the read's X-DB-Min-LSN. The example
count is small for CI; `SWITCHYARD_FUZZ_EXAMPLES` raises it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.cluster import Topology
from tests.integration.pgbouncer.servers import service_process

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "3")
LAGGING = 0.5


def test_schemathesis_finds_nothing(
    cluster: Topology, db_env: dict[str, str], migrated: None, tmp_path: Path
) -> None:
    lagging = cluster.nodes[-1].name
    cluster.set_apply_delay(lagging, LAGGING)
    try:
        with service_process(db_env) as base:
            result = subprocess.run(
                [
                    str(Path(sys.executable).with_name("schemathesis")),
                    "--no-color",
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{base}/schema/openapi.json",
                    "--checks",
                    "all",
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--max-examples",
                    EXAMPLES,
                    "--workers",
                    "1",
                ],
                capture_output=True,
                text=True,
                cwd=tmp_path,  # its cache folder lands there, not in the work tree
                timeout=900,
                check=False,
            )
    finally:
        cluster.set_apply_delay(lagging, 0)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Stateful" in result.stdout, report
