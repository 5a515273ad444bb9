"""Build one-device, one-replica account/container/object rings: ``rings.py SWIFT_DIR A_PORT C_PORT O_PORT``.

Same result as ``swift-ring-builder create 6 1 1`` + ``add`` + ``rebalance`` for each ring, in one process.
"""

import os
import sys

from swift.common.ring import RingBuilder


def main() -> None:
    swift_dir, ports = sys.argv[1], sys.argv[2:5]
    for name, port in zip(("account", "container", "object"), ports):
        builder = RingBuilder(6, 1, 1)
        dev = {"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d1"}
        builder.add_dev({**dev, "weight": 1.0, "replication_ip": "127.0.0.1", "replication_port": int(port)})
        builder.rebalance()
        builder.get_ring().save(os.path.join(swift_dir, f"{name}.ring.gz"))


if __name__ == "__main__":
    main()
