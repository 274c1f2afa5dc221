"""The worker's own Temporal SDK metrics, served for Prometheus when WORKER_METRICS_ADDRESS is set."""

import uuid

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from stocksaga import embedded
from workers.main import RUNNER, metrics_runtime
from workflows.health import HealthWorkflow, ping


async def test_a_worker_with_a_metrics_address_serves_the_sdk_metrics(temporal_env):
    address = f"127.0.0.1:{embedded.free_port()}"
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace=temporal_env.client.namespace,
        runtime=metrics_runtime(address),
    )
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[HealthWorkflow], activities=[ping], workflow_runner=RUNNER
    ):
        await client.execute_workflow(HealthWorkflow.run, "metrics", id=f"health-{uuid.uuid4()}", task_queue=task_queue)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics")).text
    assert "temporal_workflow_completed" in text and "temporal_activity_execution_latency" in text
