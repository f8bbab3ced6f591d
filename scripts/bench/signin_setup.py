"""Creates agents with a password over SCIM and signs each in; prints one session token per
line.

Usage: signin_setup.py BASE_URL SCIM_TOKEN AGENTS PASSWORD SESSIONS_PER_AGENT
"""

import http.client
import json
import sys
import urllib.parse

base, token, agents, password, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)


def call(method, path, body, headers):
    conn.request(method, path, body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


scim = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
for i in range(1, agents + 1):
    status, data = call("POST", "/scim/v2/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"signin{i:05d}",
        "password": password,
        "active": True,
    }, scim)
    if status != 201:
        raise SystemExit(f"create signin{i:05d}: {status} {data[:300]!r}")
for i in range(1, agents + 1):
    for _ in range(per):
        status, data = call("POST", "/api/v1/auth/login",
                            {"login": f"signin{i:05d}", "password": password},
                            {"Content-Type": "application/json"})
        if status != 200:
            raise SystemExit(f"login signin{i:05d}: {status} {data[:300]!r}")
        print(json.loads(data)["token"], flush=True)
