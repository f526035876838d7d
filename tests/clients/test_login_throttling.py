"""Login throttling at the token endpoint, against the real binary on both stores.

* Failed secrets are counted per client id *and* source address, and a failure slot is taken
  before the secret is checked: 40 concurrent wrong secrets for one key get at most 10 answers of
  401 and the rest 429, while the key's owner, from another address (127.0.0.2), still gets a
  token, during the attack and after it.
* An unknown client id costs about what a known one costs (it is checked against a dummy argon2
  hash), so timing does not tell which ids exist: medians compared with a loose bound.
* Concurrent argon2 verifications are bounded (`FRAZIL_MAX_SECRET_VERIFICATIONS`); beyond the
  bound a request waits briefly, then gets 503 with `Retry-After`.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

from conftest import AdminClient, _database_for, make_tenant, start_server, stop_server, unique

TIMEOUT = 60
ATTACKER = "127.0.0.1"
OWNER = "127.0.0.2"


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a chosen local address (anything in 127.0.0.0/8 reaches the server)."""

    def __init__(self, source: str, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, connections, maxsize, block=False, **kw):
        self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, source_address=(self.source, 0), **kw)


def from_address(source: str) -> requests.Session:
    s = requests.Session()
    s.mount("http://", SourceAddressAdapter(source, pool_maxsize=100))
    return s


def token_request(http: requests.Session, url: str, client_id: str, secret: str) -> requests.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "catalog"}
    return http.post(url, data=form, timeout=TIMEOUT)


def owner_gets_token(http: requests.Session, url: str, key: dict) -> requests.Response:
    """The owner's request; a 503 (every verification slot busy) is retried after Retry-After,
    as a client should. 401 and 429 are answers."""
    for _ in range(10):
        r = token_request(http, url, key["key"], key["secret"])
        if r.status_code != 503:
            return r
        time.sleep(int(r.headers["Retry-After"]))
    return r


@pytest.fixture(scope="module")
def tenant(server, tmp_path_factory):
    admin = AdminClient(server)
    return admin, make_tenant(server, admin, tmp_path_factory.mktemp("throttle"))


def test_concurrent_wrong_secrets_are_throttled_without_locking_out_the_owner(server, tenant):
    admin, t = tenant
    key = admin.create_key(t.org, t.env, "reader", description="under attack")
    url = f"{t.catalog_uri}/v1/oauth/tokens"
    attacker, owner = from_address(ATTACKER), from_address(OWNER)

    with ThreadPoolExecutor(max_workers=41) as pool:
        guesses = [pool.submit(token_request, attacker, url, key["key"], f"wrong-guess-{i:02d}-0123456789") for i in range(40)]
        during = pool.submit(owner_gets_token, owner, url, key)
        statuses = [g.result().status_code for g in guesses]
        during = during.result()

    assert set(statuses) <= {401, 429, 503}, statuses
    assert statuses.count(401) <= 10, f"only 10 failures may be checked, got {statuses.count(401)} × 401: {statuses}"
    assert statuses.count(429) >= 30, statuses
    assert during.status_code == 200, f"the owner, from {OWNER}, during the attack: {during.status_code} {during.text}"

    # a guess answered 503 was not checked and is not counted: the attacker may go on until its
    # tenth checked failure, and no further
    for i in range(statuses.count(503)):
        r = token_request(attacker, url, key["key"], f"more-guesses-{i:02d}-0123456789")
        if r.status_code == 429:
            break
        assert r.status_code in (401, 503), r.text
    # afterwards: the attacker's address is throttled, even with the right secret ...
    r = token_request(attacker, url, key["key"], key["secret"])
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) > 0, dict(r.headers)
    assert r.json()["error"] == "invalid_client", r.text
    # ... and the owner's is not
    r = owner_gets_token(owner, url, key)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"], r.text


def test_unknown_client_ids_cost_what_known_ones_cost(server, tenant):
    """Medians of 9 wrong secrets for a known id against 9 unknown ids, interleaved, from an
    address of their own (9 failures stay below the limit). A loose bound: a factor of 3, where
    skipping argon2 for unknown ids makes them an order of magnitude faster."""
    admin, t = tenant
    key = admin.create_key(t.org, t.env, "reader", description="timing")
    url = f"{t.catalog_uri}/v1/oauth/tokens"
    http = from_address("127.0.0.3")

    def timed(client_id: str, secret: str) -> float:
        start = time.perf_counter()
        r = token_request(http, url, client_id, secret)
        elapsed = time.perf_counter() - start
        assert r.status_code == 401, r.text
        return elapsed

    token_request(http, url, unique("FRZWARMUP"), "warm-up-0123456789abcdef")  # makes the dummy hash
    known, unknown = [], []
    for i in range(9):
        known.append(timed(key["key"], f"wrong-secret-{i}-0123456789"))
        unknown.append(timed(unique("FRZNOSUCHKEY"), f"wrong-secret-{i}-0123456789"))
    k, u = statistics.median(known), statistics.median(unknown)
    assert u > k / 3 and k > u / 3, f"median known id {k * 1000:.1f} ms, unknown id {u * 1000:.1f} ms"


def test_saturated_verifications_answer_503(store, tmp_path_factory):
    """With one verification at a time, 80 concurrent checks (distinct unknown ids, so no
    throttling) cannot all get a slot within the bounded wait: some answer 503 with Retry-After,
    the rest 401, and the server serves normally afterwards."""
    base = tmp_path_factory.mktemp(f"saturation-{store}")
    cleanups: list = []
    srv = None
    try:
        srv = start_server(store, base, _database_for(store, base, cleanups), env={"FRAZIL_MAX_SECRET_VERIFICATIONS": "1"})
        url = f"{srv.base_url}/oauth/token"
        http = from_address(ATTACKER)
        with ThreadPoolExecutor(max_workers=80) as pool:
            answers = list(pool.map(lambda i: token_request(http, url, unique(f"FRZGHOST{i}"), "wrong-0123456789abcdef"), range(80)))
        statuses = [r.status_code for r in answers]
        assert set(statuses) <= {401, 503}, statuses
        busy = [r for r in answers if r.status_code == 503]
        assert busy, f"no 503 among {statuses}"
        for r in busy:
            assert int(r.headers["Retry-After"]) > 0, dict(r.headers)
            assert r.json()["error"] == "temporarily_unavailable", r.text
        r = token_request(http, url, srv.client_id, srv.client_secret)
        assert r.status_code == 200, r.text
    finally:
        if srv is not None:
            stop_server(srv)
        for c in reversed(cleanups):
            c()
