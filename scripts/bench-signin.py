#!/usr/bin/env python3
"""Sign-in time with and without two-factor sign-in, against a running server.

Usage: scripts/bench-signin.py BASE_URL LOGIN PASSWORD [ROUNDS]
       scripts/bench-signin.py --forgot BASE_URL KNOWN_EMAIL [ROUNDS]

Measures, one request after another (no concurrency), wall time per sign-in:
  1. POST /auth/login for an account without two-factor sign-in;
  2. then enrols that account (setup + confirm) and measures POST /auth/login followed by
     POST /auth/login/2fa, once with a TOTP code (codes are accepted once per 30-second
     step, so only a few such sign-ins fit in a run) and with each recovery code.
Prints the median and the worst of each. The account's two-factor sign-in stays on.

With --forgot it times POST /auth/password/forgot for a known address and for an unknown
one, alternating, FORGOT_PAUSE_MS apart (start the server with
RATE_LIMIT_MAIL_PER_IP_PER_MINUTE and RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE raised above
the rounds; under 64 requests a second, the background jobs' bound), and checks that
every answer is the same 202 and body.
"""
import base64
import hashlib
import hmac
import json
import statistics
import struct
import sys
import time
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as res:
            raw = res.read()
            return res.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def totp(secret_b32, at):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def timed(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def report(name, samples):
    print(f"{name:40s} n={len(samples):3d} median {statistics.median(samples):7.2f} ms  worst {max(samples):7.2f} ms")


# Seconds between requests (FORGOT_PAUSE_MS), so each one meets an idle server.
PAUSE = float(__import__("os").environ.get("FORGOT_PAUSE_MS", "0")) / 1000


def forgot(base, known, rounds):
    answers = set()
    samples = {"known": [], "unknown": []}
    # One address of each kind, asked for again and again: the per-address counter then
    # does the same work for both (a first request for an address creates its counter).
    unknown = f"nobody-{time.time_ns()}@example.com"
    for _ in range(rounds):
        for kind, email in (("known", known), ("unknown", unknown)):
            def run():
                status, body = call(base, "POST", "/auth/password/forgot", {"email": email})
                answers.add((status, json.dumps(body, sort_keys=True)))
            samples[kind].append(timed(run))
            time.sleep(PAUSE)
    assert len(answers) == 1, f"{len(answers)} different answers, e.g. {sorted(answers)[:2]}"
    for kind in ("known", "unknown"):
        report(f"forgot-password, {kind} address", samples[kind])
    print("answers:", answers.pop())


def main():
    if sys.argv[1] == "--forgot":
        forgot(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 200)
        return
    base, login, password = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    creds = {"username": login, "password": password}

    def password_only():
        status, body = call(base, "POST", "/auth/login", creds)
        assert status == 200 and "access_token" in body, body

    call(base, "POST", "/auth/login", creds)  # warm-up
    report("password, no 2FA", [timed(password_only) for _ in range(rounds)])

    status, body = call(base, "POST", "/auth/login", creds)
    token = body["access_token"]
    status, setup = call(base, "POST", "/auth/2fa/setup", {}, token)
    assert status == 200, setup
    secret = setup["secret"]
    status, body = call(base, "POST", "/auth/2fa/confirm", {"code": totp(secret, time.time())}, token)
    assert status == 200, body
    recovery = body["recovery_codes"]

    def with_proof(proof):
        def run():
            status, first = call(base, "POST", "/auth/login", creds)
            assert status == 200 and first.get("mfa_required"), first
            status, done = call(base, "POST", "/auth/login/2fa", dict(mfa_token=first["mfa_token"], **proof))
            assert status == 200 and "access_token" in done, done
        return run

    code = [timed(with_proof({"code": totp(secret, time.time() + 30)}))]
    report("password + TOTP code", code)
    report("password + recovery code", [timed(with_proof({"recovery_code": c})) for c in recovery])


if __name__ == "__main__":
    main()
