#!/usr/bin/env python3
"""Serve a stand-in agent socket for bench/run.sh.

Usage: agent_sock.py PATH

Binds a unix stream socket at PATH, leaves it root-owned with mode 0755 (as
Docker Desktop mounts /run/host-services/ssh-auth.sock), and answers every
connection as an SSH agent with no keys answers a request for its keys
(a setuid start asks before it opens the socket up), then closes it, so a
contestant that probes the socket sees a live agent and never blocks on a
full backlog. Runs until killed.
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
    # SSH_AGENT_IDENTITIES_ANSWER (12) with a key count of 0.
    answer = b"\x00\x00\x00\x05\x0c\x00\x00\x00\x00"
    while True:
        conn, _ = srv.accept()
        conn.settimeout(1)
        try:
            if conn.recv(5):
                conn.sendall(answer)
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    main()
