"""One concurrent appender for test_concurrency.py (run as a separate process).

    python append_worker.py <catalog-json> <table-ident> <worker-id> <appends> <rows-per-append>

<catalog-json> holds the RestCatalog properties, including its `credential` ("id:secret"): the
worker logs in on its own, as a separate client would. Loads the catalog and table, prints "ready", waits for a line on stdin, then performs <appends>
appends of its own rows. PyIceberg's built-in commit retry is disabled on the table, so every
409 CommitFailedException reaches this loop, which refreshes the table and tries again. Prints one
JSON line with its counts at the end; exits non-zero on any other error.
"""

from __future__ import annotations

import json
import random
import sys
import time


def main() -> int:
    import pyarrow as pa
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.exceptions import CommitFailedException

    props = json.loads(sys.argv[1])
    ident = sys.argv[2]
    worker = int(sys.argv[3])
    appends = int(sys.argv[4])
    per_append = int(sys.argv[5])

    catalog = RestCatalog(f"worker-{worker}", **props)
    table = catalog.load_table(ident)
    schema = pa.schema([pa.field("worker", pa.int64()), pa.field("seq", pa.int64()), pa.field("row", pa.int64())])

    print("ready", flush=True)
    sys.stdin.readline()

    conflicts = 0
    done = 0
    deadline = time.monotonic() + 240
    for seq in range(appends):
        data = pa.Table.from_pylist(
            [{"worker": worker, "seq": seq, "row": r} for r in range(per_append)], schema=schema
        )
        while True:
            try:
                table.append(data)
                done += 1
                break
            except CommitFailedException:
                conflicts += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0, 0.05))
                table.refresh()
    print(json.dumps({"worker": worker, "appends": done, "conflicts": conflicts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
