"""Latency of list pages, one request at a time over one keep-alive connection.

Usage: api_list.py BASE_URL SCIM_TOKEN ADMIN_TOKEN USERS REQUESTS LABEL

Prints one line per scenario: LABEL, scenario, requests, p50 ms, p99 ms, items on the page.
A scenario the server does not have (404) is reported as "absent".
"""

import http.client
import json
import random
import sys
import time
import urllib.parse

base, scim_token, admin_token = sys.argv[1], sys.argv[2], sys.argv[3]
users, requests, label = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def get(path, token):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, body


def fetch(path, token):
    status, body = get(path, token)
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return json.loads(body)


def q(s):
    return urllib.parse.quote(s, safe="")


def measure(name, paths, token, items_of):
    """paths: a function of i giving the i-th request's path."""
    status, body = get(paths(0), token)
    if status == 404:
        print(f"{label:<10} {name:<34} absent", flush=True)
        return
    if status != 200:
        raise SystemExit(f"GET {paths(0)}: {status} {body[:300]!r}")
    items = items_of(json.loads(body))
    for i in range(max(10, requests // 10)):
        get(paths(i), token)
    times = []
    for i in range(requests):
        t0 = time.perf_counter()
        status, body = get(paths(i), token)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit(f"GET {paths(i)}: {status} {body[:300]!r}")
    times.sort()
    p50 = times[len(times) // 2]
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{label:<10} {name:<34} {requests:>5} {p50:>8.2f} {p99:>8.2f} {items:>6}", flush=True)


api_items = lambda v: len(v["items"])
scim_items = lambda v: len(v["Resources"])


def api_cursor(params, depth):
    """The path of page `depth` of an admin listing (followed by cursor from page 1)."""
    path = f"/api/v1/agents?limit=50{params}"
    status, body = get(path, admin_token)
    if status != 200:
        return path
    v = json.loads(body)
    for _ in range(depth - 2):
        if v["nextCursor"] is None:
            break
        v = fetch(f"{path}&cursor={q(v['nextCursor'])}", admin_token)
    c = v["nextCursor"]
    return f"{path}&cursor={q(c)}" if c else path


def scim_cursor(depth):
    """The path of page `depth` of a SCIM cursor listing."""
    path = "/scim/v2/Users?count=100"
    v = fetch(f"{path}&cursor=", scim_token)
    for _ in range(depth - 2):
        v = fetch(f"{path}&cursor={q(v['nextCursor'])}", scim_token)
    return f"{path}&cursor={q(v['nextCursor'])}"


print(f"{'backend':<10} {'scenario':<34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'items':>6}")
rng = random.Random(7)
A = admin_token
measure("api first page", lambda i: "/api/v1/agents?limit=50", A, api_items)
deep = api_cursor("", 50)
measure("api page 50 (cursor)", lambda i: deep, A, api_items)
for name, term in [
    ("api q rare (quixote)", "quixote"),
    ("api q common (example)", "example"),
    ("api q medium (wang)", "wang"),
    ("api q short (王)", "王"),
    ("api q short rare (qz)", "qz"),
    ("api q number (0420)", "0420"),
]:
    measure(name, lambda i, t=term: f"/api/v1/agents?limit=50&q={q(t)}", A, api_items)
measure("api department=Billing", lambda i: "/api/v1/agents?limit=50&department=Billing", A, api_items)
deep_q = api_cursor("&q=wang", 10)
measure("api q wang page 10 (cursor)", lambda i: deep_q, A, api_items)
measure("api sort displayName desc", lambda i: "/api/v1/agents?limit=50&sort=displayName&order=desc", A, api_items)
names = [f"user{rng.randint(1, users):06d}" for _ in range(requests)]
measure(
    "scim filter userName eq",
    lambda i: "/scim/v2/Users?filter=" + q(f'userName eq "{names[i % len(names)]}"'),
    scim_token,
    scim_items,
)
scim_deep = scim_cursor(50)
measure("scim cursor page 50 (count=100)", lambda i: scim_deep, scim_token, scim_items)
starts = [rng.randint(1, max(1, users - 100)) for _ in range(requests)]
measure(
    "scim index page (count=100)",
    lambda i: f"/scim/v2/Users?startIndex={starts[i % len(starts)]}&count=100",
    scim_token,
    scim_items,
)
