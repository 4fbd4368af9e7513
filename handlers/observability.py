"""Powertools logger, tracer and metrics, created once per cold start and shared by the handlers."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "chat")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Chat")

logger = Logger()
tracer = Tracer()
metrics = Metrics()
