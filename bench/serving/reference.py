#!/usr/bin/env python3
"""The reference server of the serving benchmark: what a user would otherwise
write - Python's ThreadingHTTPServer answering POST /v1/forecast by loading a
key's model (the same seasonal-naive parameters the C server's artifacts hold,
as JSON written by bench_serving_setup) on demand into an LRU of CACHE_KEYS
keys. Not part of the product; only for the side-by-side run in run.sh.

    reference.py DIR PORT CACHE_KEYS
"""
import json
import sys
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DAY_MS = 86400000


class Models:
    def __init__(self, directory, capacity):
        self.directory = directory
        self.capacity = capacity
        self.cache = OrderedDict()
        self.lock = threading.Lock()
        self.index = {}
        with open(f"{directory}/keys.txt") as f:
            for i, line in enumerate(f):
                self.index[line.strip()] = i

    def get(self, key):
        with self.lock:
            model = self.cache.get(key)
            if model is not None:
                self.cache.move_to_end(key)
                return model
        i = self.index.get(key)
        if i is None:
            return None
        with open(f"{self.directory}/ref/{i}.json") as f:
            model = json.load(f)
        with self.lock:
            self.cache[key] = model
            self.cache.move_to_end(key)
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        return model


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    models = None

    def log_message(self, *args):
        pass

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(length))
            key, horizon = req["key"], int(req.get("horizon", 28))
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": {"code": "invalid_json"}})
        model = self.models.get(key)
        if model is None:
            return self.answer(404, {"error": {"code": "unknown_key"}})
        season = model["last_season"]
        end = model["data_end_ms"]
        values = [season[h % len(season)] for h in range(horizon)]
        times = [end + (h + 1) * DAY_MS for h in range(horizon)]
        return self.answer(200, {"key": key, "values": values, "times": times,
                                 "model_version": model["version"], "fallback": False})


def main():
    directory, port, capacity = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    Handler.models = Models(directory, capacity)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
