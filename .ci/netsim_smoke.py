"""Drives `meridian netsim` with the unmodified toxiproxy-python client.

Usage: python netsim_smoke.py <upstream host:port> <netsim API port>
The upstream must answer HTTP GET / (a region's DynamoDB endpoint does).
"""
import socket
import sys
import time

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

upstream, api_port = sys.argv[1], int(sys.argv[2])
APIConsumer.port = api_port
server = Toxiproxy()
assert server.running(), "the API answers"
server.destroy_all()


def get_root(port, timeout=10):
    """One HTTP GET / through the proxy; returns (seconds, response bytes)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return time.monotonic() - start, data


proxy = server.create(upstream=upstream, name="smoke", listen="127.0.0.1:18475")
assert "smoke" in server.proxies()
try:
    server.create(upstream=upstream, name="smoke", listen="127.0.0.1:18476")
    raise AssertionError("a duplicate proxy must be refused")
except ProxyExists:
    pass

took, body = get_root(18475)
assert b"healthy" in body, body

proxy.add_toxic(type="latency", attributes={"latency": 300}, stream="upstream")
assert "latency_upstream" in proxy.toxics()
took, body = get_root(18475)
assert b"healthy" in body and took >= 0.3, (took, body)

proxy.destroy_toxic("latency_upstream")

# Meridian's extension toxics go through the unmodified client too: it sends
# the type as text. Loss at 100 %: every chunk waits one RTO.
proxy.add_toxic(type="loss", attributes={"percent": 100, "rto_ms": 300}, stream="upstream")
assert "loss_upstream" in proxy.toxics()
took, body = get_root(18475)
assert b"healthy" in body and took >= 0.3, (took, body)
proxy.destroy_toxic("loss_upstream")
try:
    proxy.add_toxic(type="loss", name="bad", attributes={"percent": 150})
    raise AssertionError("loss above 100 % must be refused")
except InvalidToxic as e:
    assert b"percent" in e.args[0], e
assert "bad" not in proxy.toxics()

# Flapping, down for the first 50 s of every minute: nothing gets through now.
proxy.add_toxic(name="flap", type="flap", attributes={"period_ms": 60000, "down_ms": 50000}, stream="upstream")
try:
    get_root(18475, timeout=1)
    raise AssertionError("a flapping link in its down phase answers nothing")
except socket.timeout:
    pass
proxy.destroy_toxic("flap")
assert b"healthy" in get_root(18475)[1]

proxy.disable()
try:
    get_root(18475)
    raise AssertionError("a disabled proxy refuses connections")
except OSError:
    pass
proxy.enable()
assert b"healthy" in get_root(18475)[1]

assert server.reset()
try:
    server.get_proxy("nope").destroy()
except (NotFound, AttributeError):
    pass
proxy.destroy()
assert "smoke" not in server.proxies()
print("smoke: toxiproxy-python ok")
