#!/usr/bin/env python3
"""attack.py — resource attacks on a broker under test (loopback only).

  attack.py slowloris HOST PORT --count N [--source ADDR] [--seconds S]
            [--health-port P --health-times K]
      Opens N HTTP connections from ADDR (a 127.x address) that send one
      header byte every 2 s and never finish. Meanwhile, if --health-port
      is given, asks GET /healthz from 127.0.0.1 K times, one a second.
  attack.py flood HOST PORT --count N [--seconds S]
      Opens N bare TCP connections that never send a greeting.

Both print key=value lines: opened (connections the kernel completed),
refused (connect failed or closed before the first trickle), cut (closed
by the server later), cut_within_s (seconds until the last cut), and for
--health-* health_ok / health_failed. Every loop is bounded by --seconds.
"""
import argparse
import resource
import socket
import threading
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def open_many(host, port, count, source):
    socks, refused = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            if source:
                s.bind((source, 0))
            s.connect((host, port))
            socks.append(s)
        except OSError:
            refused += 1
            s.close()
    return socks, refused


def closed_by_peer(s):
    """True if the server closed s (EOF or reset); never blocks."""
    try:
        s.setblocking(False)
        data = s.recv(4096)
        return data == b"" or False
    except BlockingIOError:
        return False
    except OSError:
        return True


def watch(socks, seconds, trickle):
    """Trickles (if asked) and counts server-side closes until all are cut or time is up."""
    start = time.monotonic()
    alive = list(socks)
    cut, last_cut = 0, 0.0
    next_trickle = start
    header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    pos = 0
    while alive and time.monotonic() - start < seconds:
        now = time.monotonic()
        if trickle and now >= next_trickle:
            for s in list(alive):
                try:
                    s.send(header[pos:pos + 1])
                except OSError:
                    pass
            pos = (pos + 1) % len(header)
            next_trickle = now + 2
        for s in list(alive):
            if closed_by_peer(s):
                alive.remove(s)
                s.close()
                cut += 1
                last_cut = time.monotonic() - start
        time.sleep(0.1)
    for s in alive:
        s.close()
    return cut, last_cut


def health(port, times, results):
    ok = bad = 0
    for _ in range(times):
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            if reply.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                bad += 1
        except OSError:
            bad += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    results["health_ok"], results["health_failed"] = ok, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slowloris", "flood"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--source", default="")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--health-port", type=int, default=0)
    ap.add_argument("--health-times", type=int, default=12)
    a = ap.parse_args()
    if not a.host.startswith("127."):
        raise SystemExit("attack.py: loopback targets only")
    raise_nofile()
    socks, refused = open_many(a.host, a.port, a.count, a.source)
    results = {}
    checker = None
    if a.health_port:
        checker = threading.Thread(target=health, args=(a.health_port, a.health_times, results))
        checker.start()
    # A connection the server accepted and closed at once counts as refused.
    time.sleep(0.3)
    early = [s for s in socks if closed_by_peer(s)]
    for s in early:
        socks.remove(s)
        s.close()
    cut, last_cut = watch(socks, a.seconds, a.mode == "slowloris")
    if checker:
        checker.join()
    print(f"opened={len(socks) + len(early)}")
    print(f"refused={refused + len(early)}")
    print(f"held={len(socks)}")
    print(f"cut={cut}")
    print(f"cut_within_s={last_cut:.1f}")
    for k, v in results.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
