"""What a worker process runs for one sweep point.

Workers receive the point's resolved configuration as YAML text (plain data: nothing to pickle but a
string, and it is complete, so a worker needs no access to the sweep's files) and return plain data.
This module imports nothing heavy at import time, so a fresh worker can import it cheaply; the
simulator itself is imported on the first point.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from archsim.config.loader import RunConfig
from archsim.config.schema import Provenance, build
from archsim.config.yamltext import YamlProblem, parse_yaml, yaml_error_text
from archsim.errors import ConfigError

RESOLVED_SOURCE = "(resolved configuration)"


def utc_timestamp(seconds: float | None = None) -> str:
    """ISO 8601 UTC time with milliseconds, e.g. ``2026-05-09T07:35:25.123Z``."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def config_from_text(resolved_yaml_text: str) -> RunConfig:
    """Rebuild a RunConfig from resolved YAML text (strictly validated, as any configuration file)."""
    try:
        tree = parse_yaml(resolved_yaml_text)
    except YamlProblem as exc:
        raise ConfigError(RESOLVED_SOURCE, exc.key_path, exc.message) from None
    except yaml.YAMLError as exc:
        raise ConfigError(RESOLVED_SOURCE, "(file)", yaml_error_text(exc)) from None
    if not isinstance(tree, dict):
        raise ConfigError(RESOLVED_SOURCE, "(file)", "expected a mapping of configuration sections")
    return build(RunConfig, tree, Provenance(default_file=RESOLVED_SOURCE))


def run_point(resolved_yaml_text: str) -> dict:
    """Run one point: load the resolved configuration and train it; returns the run's report dict."""
    from archsim.run import execute  # imported here: the simulator is heavy and workers import us first

    return execute(config_from_text(resolved_yaml_text), out_dir=None)


PointFunction = Callable[[str], dict]


def run_point_outcome(point_function: PointFunction, resolved_yaml_text: str) -> dict[str, Any]:
    """Run ``point_function`` and return its outcome as plain data; never raises for a failing point.

    Catching here (rather than letting Dask ship the exception back) records when the point started and
    where it ran even when it fails, and keeps exceptions that cannot be pickled from turning into a
    different error. Returns ``{"ok", "report" | "error", "traceback", "started_at", "finished_at",
    "worker"}``; times are UTC ISO 8601 strings.
    """
    started = utc_timestamp()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        report = point_function(resolved_yaml_text)
    except Exception as exc:
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "started_at": started,
            "finished_at": utc_timestamp(),
            "worker": worker,
        }
    if not isinstance(report, dict):
        return {
            "ok": False,
            "error": f"TypeError: the point function returned {type(report).__name__}, expected a report dict",
            "traceback": "",
            "started_at": started,
            "finished_at": utc_timestamp(),
            "worker": worker,
        }
    return {"ok": True, "report": report, "started_at": started, "finished_at": utc_timestamp(), "worker": worker}
