"""A signed deployment lifecycle against the container, with each of the two ways Jira is called.

Connect apps sign every request with a JWT and call the site's ``/rest/deployments/0.1``; on-premises
tools get an OAuth 2.0 access token and call the gateway's ``/jira/deployments/0.1/cloud/{cloudId}``.
Both submit, flush the apply queue, read back, read the gating status and delete by properties,
over the container's published port. An hour's apply delay keeps every write pending until a flush,
so what the tests see does not depend on how fast they run.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulator.client import EmulatorClient
from tests.docker import engine
from tests.factories import deployment_data

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def emulator(image: engine.Image) -> Iterator[EmulatorClient]:
    container = engine.Container.run(image.tag, env={"EMULATOR_APPLY_DELAY": "3600"})
    try:
        container.wait_healthy()
        with EmulatorClient(container.url) as client:
            yield client
    finally:
        container.remove()


def signed(emulator: EmulatorClient, family: str) -> tuple[httpx.Client, str]:
    """A client of the code under test, signed the way ``family`` signs, and the API's base path."""
    if family == "connect":
        return emulator.jira(emulator.connect_auth()), "/rest/deployments/0.1"
    return emulator.jira(emulator.oauth_token()), f"/jira/deployments/0.1/cloud/{emulator.cloud_id()}"


@pytest.mark.parametrize("family", ["connect", "oauth"])
def test_submit_flush_get_gate_and_delete_by_properties(emulator: EmulatorClient, family: str) -> None:
    jira, base = signed(emulator, family)
    pipeline = f"docker-{family}"
    sent = deployment_data(pipeline, "prod", 7, gating=True)
    key = f"{base}/pipelines/{pipeline}/environments/prod/deployments/7"
    with jira:
        accepted = jira.post(f"{base}/bulk", json={"deployments": [sent], "properties": {"run": pipeline}})
        assert accepted.status_code == 202, accepted.text
        assert [d["pipelineId"] for d in accepted.json()["acceptedDeployments"]] == [pipeline]
        assert jira.get(key).status_code == 404, "pending until applied"

        assert emulator.flush() == 1
        got = jira.get(key)
        assert got.status_code == 200, got.text
        stored = got.json()
        assert stored["pipeline"]["id"] == pipeline and stored["deploymentSequenceNumber"] == 7
        assert stored["updateSequenceNumber"] == sent["updateSequenceNumber"]

        gating = jira.get(f"{key}/gating-status")
        assert gating.status_code == 200, gating.text
        assert gating.json()["gatingStatus"] == "awaiting"
        assert gating.json()["pipelineId"] == pipeline

        deleted = jira.delete(f"{base}/bulkByProperties", params={"run": pipeline})
        assert deleted.status_code == 202, deleted.text
        assert jira.get(key).status_code == 200, "the delete waits for the apply delay too"
        assert emulator.flush() == 1
        assert jira.get(key).status_code == 404

        # and the signature is really checked: unsigned, the same read is refused
        with httpx.Client(base_url=emulator.url, timeout=5) as anonymous:
            assert anonymous.get(key).status_code == 401


def test_a_bad_signature_is_refused_with_401(emulator: EmulatorClient) -> None:
    wrong = emulator.connect_auth(shared_secret="not-the-secret")
    with emulator.jira(wrong) as jira:
        refused = jira.post("/rest/deployments/0.1/bulk", json={"deployments": [deployment_data()]})
    assert refused.status_code == 401
    assert emulator.state(pipeline="pipe") == []
