"""A real socket listener for the audit sink tests (crates/audit/tests).

    python listener.py KIND OUT [PATH]

KIND is tcp, udp, unix (stream), unixgram or stall (tcp that accepts and
never reads). Binds 127.0.0.1:0 (or PATH for the unix kinds), prints
"READY <address>" on stdout, then appends every byte it receives to the file
OUT (one datagram per write for udp/unixgram). Runs until killed.
"""

import os
import socket
import sys
import threading
import time


def serve_stream(sock, out, read):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=drain, args=(conn, out, read), daemon=True).start()


def drain(conn, out, read):
    if not read:
        # hold the connection open and never read: the sender's buffers fill up
        while True:
            time.sleep(60)
    while True:
        data = conn.recv(65536)
        if not data:
            conn.close()
            return
        with open(out, "ab") as f:
            f.write(data)


def serve_datagram(sock, out):
    while True:
        data = sock.recv(1 << 20)
        with open(out, "ab") as f:
            f.write(data)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    open(out, "wb").close()
    if kind in ("tcp", "stall"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "stall":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind(("127.0.0.1", 0))
        address = "%s:%d" % sock.getsockname()
    elif kind == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        address = "%s:%d" % sock.getsockname()
    elif kind in ("unix", "unixgram"):
        path = sys.argv[3]
        if os.path.exists(path):
            os.unlink(path)
        family = socket.SOCK_STREAM if kind == "unix" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_UNIX, family)
        if kind == "unixgram":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(path)
        address = path
    else:
        sys.exit("unknown kind " + kind)
    if kind in ("tcp", "stall", "unix"):
        sock.listen(16)
    print("READY", address, flush=True)
    if kind in ("udp", "unixgram"):
        serve_datagram(sock, out)
    else:
        serve_stream(sock, out, read=(kind != "stall"))


if __name__ == "__main__":
    main()
