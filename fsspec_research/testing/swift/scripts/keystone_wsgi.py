"""Serve Keystone's WSGI app with werkzeug's threaded server: ``keystone_wsgi.py CONF PORT [CERT KEY]``."""

import os
import sys


def main() -> None:
    conf, port, *tls = sys.argv[1:]
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    sys.argv = sys.argv[:1]  # keystone's oslo.config would parse our arguments as its own
    from keystone.wsgi.api import application
    from werkzeug.serving import run_simple

    ssl_context = (tls[0], tls[1]) if tls else None
    run_simple("127.0.0.1", int(port), application, threaded=True, ssl_context=ssl_context)


if __name__ == "__main__":
    main()
