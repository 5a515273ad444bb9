"""Run ``swift-container-updater`` with swift.conf taken from SWIFT_DIR: ``updater.py SWIFT_DIR CONF``.

Non-WSGI daemons read the hash path prefix/suffix from /etc/swift/swift.conf unless ``set_swift_dir`` is
called first; with another (or no) swift.conf there the updater quarantines freshly made containers.
"""

import sys

from swift.common.utils import set_swift_dir


def main() -> None:
    set_swift_dir(sys.argv.pop(1))
    from swift.container.updater import main as updater_main

    updater_main()


if __name__ == "__main__":
    main()
