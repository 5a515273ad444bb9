"""A loopback UDP syslog sink: ``syslog_sink.py LOGFILE``; prints its port, then appends every datagram.

Swift always logs to syslog (UDP when /dev/log is absent); its servers are pointed here by
``log_udp_host``/``log_udp_port``, so all logs, access logs included, end up in one file.
"""

import socket
import sys
import time


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    sys.stdout.close()
    with open(sys.argv[1], "a", buffering=1, errors="replace") as log:
        while True:
            data = sock.recv(65536)
            stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
            log.write(f"{stamp} {data.decode('utf-8', 'replace').rstrip()}\n")


if __name__ == "__main__":
    main()
