#!/usr/bin/env python3
"""Serve a stand-in agent socket for bench/run.sh.

Usage: agent_sock.py PATH

Binds a unix stream socket at PATH, leaves it root-owned with mode 0755 (as
Docker Desktop mounts /run/host-services/ssh-auth.sock), and accepts and
closes every connection, so a contestant that probes the socket with
connect(2) sees a live listener and never blocks on a full backlog.
Runs until killed.
"""

import os
import socket
import sys


def main() -> None:
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o755)
    srv.listen(128)
    while True:
        conn, _ = srv.accept()
        conn.close()


if __name__ == "__main__":
    main()
