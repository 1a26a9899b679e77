"""A local OpenAI-compatible provider that emulates latency, capacity, 429s and faults.

Answers are a pure function of (seed, model, messages), so runs are reproducible. Start it
with ``python -m mock_provider`` / ``ddbench serve``, or embedded::

    async with MockProvider(profile, seed=0) as mock:
        client = openai.AsyncOpenAI(base_url=mock.base_url, api_key="x")
"""

from __future__ import annotations

from mock_provider.capacity import SlotQueue, TokenBucket, refill, wait_for
from mock_provider.content import completion_text, instance, json_text
from mock_provider.determinism import fingerprint, rng, unit
from mock_provider.embedded import MockProvider, MockProviderThread
from mock_provider.faults import choose_fault, fault_for
from mock_provider.latency import (
    ServicePlan,
    plan_service,
    sample,
    self_hosted_factor,
    self_hosted_service,
)
from mock_provider.profile import (
    DISTRIBUTIONS,
    FAULT_KINDS,
    CapacityProfile,
    Distribution,
    FaultProfile,
    LatencyProfile,
    ModelProfile,
    OutputProfile,
    Profile,
    ProfileError,
    SelfHostedProfile,
    load_profile,
)
from mock_provider.request_log import RequestLog, RequestRecord, read_request_log
from mock_provider.server import ProviderState, create_app, create_server

__all__ = [
    "DISTRIBUTIONS",
    "FAULT_KINDS",
    "CapacityProfile",
    "Distribution",
    "FaultProfile",
    "LatencyProfile",
    "MockProvider",
    "MockProviderThread",
    "ModelProfile",
    "OutputProfile",
    "Profile",
    "ProfileError",
    "ProviderState",
    "RequestLog",
    "RequestRecord",
    "SelfHostedProfile",
    "ServicePlan",
    "SlotQueue",
    "TokenBucket",
    "choose_fault",
    "completion_text",
    "create_app",
    "create_server",
    "fault_for",
    "fingerprint",
    "instance",
    "json_text",
    "load_profile",
    "plan_service",
    "read_request_log",
    "refill",
    "rng",
    "sample",
    "self_hosted_factor",
    "self_hosted_service",
    "unit",
    "wait_for",
]
