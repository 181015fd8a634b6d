"""config.observability: JSON logs when asked, Sentry only with a DSN (no network here)."""

from __future__ import annotations

import json
import logging
import logging.config

import sentry_sdk

from config.observability import init_sentry, logging_config


def test_json_logs_are_one_object_per_line(capsys):
    config = logging_config("json")
    config["handlers"]["console"]["stream"] = "ext://sys.stdout"
    logging.config.dictConfig(config)
    try:
        logging.getLogger("reel.test").warning("render %s failed", 7, extra={"job": 7})
        line = capsys.readouterr().out.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "render 7 failed" and record["level"] == "WARNING"
        assert record["logger"] == "reel.test" and record["job"] == 7
    finally:
        logging.config.dictConfig(logging_config("plain"))


def test_sentry_stays_off_without_a_dsn():
    assert init_sentry("") is False


def test_sentry_reports_through_its_transport_when_a_dsn_is_set():
    sent = []

    class Recorder(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope):  # instead of the network
            sent.append(envelope)

    try:
        assert init_sentry("https://public@sentry.example/1", transport=Recorder) is True
        sentry_sdk.capture_message("render failed")
        sentry_sdk.flush()
        assert sent and "render failed" in sent[0].serialize().decode()
    finally:
        sentry_sdk.init(dsn=None)  # off again for the other tests
