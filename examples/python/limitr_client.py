"""A minimal client for `limitr serve`, Python 3 standard library only.

Check -> Call -> Record from a Python service:

    client = LimitrClient("http://127.0.0.1:8787", api_key=os.environ.get("LIMITR_API_KEY"))
    if not client.check("acme", "chat_input", estimate)["allowed"]:
        raise QuotaExceeded()
    completion = llm.complete(prompt)                      # the call
    client.record("llm.completion", "acme", id=completion.id,
                  properties={"model": completion.model,
                              "input_tokens": completion.usage.input,
                              "output_tokens": completion.usage.output})

Run it as a script against a server to see the pattern end to end:

    python3 examples/python/limitr_client.py http://127.0.0.1:8787 [customer]
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


class LimitrError(Exception):
    """An error answer: `status` (HTTP), `code` and `message` from `{ error: { code, message } }`."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class LimitrClient:
    def __init__(self, base_url, api_key=None, timeout=5.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                return json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            try:
                error = json.loads(err.read().decode("utf-8"))["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": str(err)}
            raise LimitrError(err.code, error["code"], error["message"]) from None

    @staticmethod
    def _call(customer, entitlement, amount, id=None, properties=None):
        body = {"customer": customer, "entitlement": entitlement, "amount": amount}
        if id is not None:
            body["id"] = id
        if properties is not None:
            body["properties"] = properties
        return body

    def check(self, customer, entitlement, amount=1):
        """The Decision decide would return; counts nothing."""
        return self._request("POST", "/v1/check", self._call(customer, entitlement, amount))

    def allow(self, customer, entitlement, amount=1, id=None, properties=None):
        """Decide and count; True when allowed."""
        body = self._call(customer, entitlement, amount, id, properties)
        return self._request("POST", "/v1/allow", body)["allowed"]

    def decide(self, customer, entitlement, amount=1, id=None, properties=None):
        return self._request("POST", "/v1/decide", self._call(customer, entitlement, amount, id, properties))

    def record(self, type, customer, id=None, value=None, properties=None, timestamp=None):
        body = {"type": type, "customer": customer}
        for key, val in (("id", id), ("value", value), ("properties", properties), ("timestamp", timestamp)):
            if val is not None:
                body[key] = val
        return self._request("POST", "/v1/record", body)

    def reserve(self, customer, entitlement, amount, ttl_ms=60000):
        """The hold's id, or None when refused."""
        body = {"customer": customer, "entitlement": entitlement, "amount": amount, "ttlMs": ttl_ms}
        answer = self._request("POST", "/v1/reserve", body)
        return answer["hold"]["id"] if answer["allowed"] else None

    def settle(self, hold_id, actual):
        return self._request("POST", "/v1/settle", {"hold": hold_id, "actual": actual})

    def release(self, hold_id):
        return self._request("POST", "/v1/release", {"hold": hold_id})["released"]

    def usage(self, customer):
        """Live usage of every entitlement of the customer's plan."""
        return self._request("GET", f"/v1/customers/{urllib.parse.quote(customer, safe='')}/usage")

    def meter(self, meter, customer=None, period=None, group_by=None):
        """Recorded usage of a meter, as `limitr usage query` computes it."""
        query = {k: v for k, v in (("customer", customer), ("period", period), ("group_by", group_by)) if v}
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self._request("GET", f"/v1/meters/{urllib.parse.quote(meter, safe='')}{suffix}")


def main(argv):
    base_url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8787"
    customer = argv[2] if len(argv) > 2 else "python-demo"
    client = LimitrClient(base_url)

    # Check: is there room for the prompt's estimated tokens?
    estimate = 1200
    decision = client.check(customer, "chat_input", estimate)
    print(json.dumps({"step": "check", "allowed": decision["allowed"], "remaining": decision["remaining"]}))
    if not decision["allowed"]:
        return 1

    # Call: the work itself (a stand-in for an LLM completion).
    completion = {"id": "cmpl-python-1", "model": "gpt-4o", "input_tokens": 1180, "output_tokens": 240}

    # Record: what actually happened; idempotent by id, so a retry records once.
    for _ in range(2):
        recorded = client.record(
            "llm.completion",
            customer,
            id=completion["id"],
            properties={k: completion[k] for k in ("model", "input_tokens", "output_tokens")},
        )
        print(json.dumps({"step": "record", "duplicate": recorded["duplicate"], "counted": recorded["counted"]}))

    usage = client.usage(customer)
    chat = next(e for e in usage["entitlements"] if e["entitlement"] == "chat_input")
    print(json.dumps({"step": "usage", "chat_input": chat}))

    tokens = client.meter("input_tokens", customer=customer)
    print(json.dumps({"step": "meter", "rows": tokens["rows"]}))

    try:
        client.settle("h-does-not-exist", 1)
    except LimitrError as err:
        print(json.dumps({"step": "error", "status": err.status, "code": err.code}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
