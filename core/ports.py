"""A free TCP port, for a server this project starts beside itself (a model server, torchrun's rendezvous)."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
