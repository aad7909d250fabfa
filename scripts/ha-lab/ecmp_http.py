"""One HTTP/1.1 exchange on a plain socket, for the ECMP lab's probes.

Standard library only. The probes need to choose the source address, keep a
connection open across a routing change and see the X-LB header (which node
answered), which is why they do not use urllib.
"""

import socket


class HttpError(Exception):
    """The exchange failed: reset, closed, timed out or unparsable."""


def connect(vip, port, src="", timeout=3.0):
    """A TCP connection to vip:port from src (any port: the kernel picks one,
    so each connection is a new flow for the router's L4 hash)."""
    s = socket.create_connection((vip, port), timeout=timeout, source_address=(src, 0))
    s.settimeout(timeout)
    return s


def exchange(sock, path="/", headers=()):
    """Sends GET path on sock (keep-alive) and returns (status, headers, body);
    header names are lower case. Raises HttpError on any failure."""
    lines = [f"GET {path} HTTP/1.1", "Host: vip"] + list(headers) + ["", ""]
    try:
        sock.sendall("\r\n".join(lines).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("closed before the response head")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in hdr_lines:
            name, _, value = line.partition(":")
            hdrs.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(hdrs.get("content-length", ["0"])[0])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("closed inside the body")
            body += chunk
        return int(status_line.split()[1]), hdrs, body[:length].decode("latin-1")
    except (OSError, ValueError, IndexError) as e:
        raise HttpError(f"{type(e).__name__}: {e}") from e


def server_of(body):
    """The demo-backend's name from its "Hello from NAME (...)" body."""
    words = body.split()
    if len(words) >= 3 and words[0] == "Hello" and words[1] == "from":
        return words[2]
    return "?"


def node_of(hdrs):
    """The ringlb node that answered (its X-LB header)."""
    return hdrs.get("x-lb", ["?"])[0]
