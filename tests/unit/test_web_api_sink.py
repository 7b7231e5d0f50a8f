"""The recommender's rows over HTTP: the sink the pipeline writes through (no server)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from recommender.pipeline import WarehouseSink, recommendation_frame
from web_api.client import RecdbClient


def test_the_http_sink_begins_the_run_posts_its_rows_then_publishes_it():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if request.url.path == "/v1/runs":
            return httpx.Response(201, json={"run_id": "run-1", "replaced": 7})
        if request.url.path.endswith("/publish"):
            return httpx.Response(200, json={"run_id": "run-1", "published": True})
        return httpx.Response(201, json={"written": len(json.loads(request.content)["rows"])})

    client = RecdbClient("http://api.test", "k" * 20, transport=httpx.MockTransport(handler))
    sink = client.recommendation_sink()
    frame = recommendation_frame(
        "run-1",
        np.array([1, 2]),
        np.array(["tm1", "tm2", "tm3"]),
        np.array([[0, 2], [1, -1]]),
        np.array([[0.9, 0.5], [0.7, 0.0]]),
        is_cold_start=False,
    )
    with sink.transaction():
        assert sink.replace_run("run-1") == 7
        assert sink.write(frame) == 3
        assert sink.write(frame.iloc[:0]) == 0
        assert ("POST", "/v1/runs/run-1/publish") not in calls  # not before every row is in
    assert calls == [
        ("POST", "/v1/runs"),
        ("POST", "/v1/recommendations"),
        ("POST", "/v1/runs/run-1/publish"),
    ]


def test_a_run_that_fails_half_way_is_never_published():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        return httpx.Response(201, json={"run_id": "run-1", "replaced": 0})

    client = RecdbClient("http://api.test", "k" * 20, transport=httpx.MockTransport(handler))
    sink = client.recommendation_sink()
    with pytest.raises(RuntimeError), sink.transaction():
        sink.replace_run("run-1")
        raise RuntimeError("the fit failed")
    assert calls == [("POST", "/v1/runs")]


def test_the_default_sink_is_python_api_in_one_transaction():
    class Recorder:
        def __init__(self):
            self.calls = []

        def transaction(self):
            import contextlib

            self.calls.append("transaction")
            return contextlib.nullcontext()

        def replace_run(self, run_id):
            self.calls.append(("replace_run", run_id))
            return 0

        def write(self, table, frame):
            self.calls.append(("write", table, len(frame)))
            return len(frame)

    warehouse = Recorder()
    sink = WarehouseSink(warehouse)
    with sink.transaction():
        sink.replace_run("r")
        sink.write(pd.DataFrame({"a": [1, 2]}))
    assert warehouse.calls == ["transaction", ("replace_run", "r"), ("write", "recommendations", 2)]
