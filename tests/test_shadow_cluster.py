"""Shadow mode on cluster workers (issue 19): a worker's candidate incidents travel the real Redis event bus tagged
with their model, and the API process records them as shadow (never in the review queue, never a case): sampled
into the shadow review queue when no serving incident overlaps them, taken out when a serving one arrives that
does; the comparison then counts them as in a single-process deployment. Then a real worker process on the rendered
parked van does the same."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.model_compare import compare
from api.schemas import IncidentCreate
from models.registry import ENV_DIRS
from streetsight.cluster.bus import EventConsumer
from streetsight.config import parse_config
from streetsight.model_promotion import shadow_candidate
from streetsight.shadow_records import ShadowTagger, follow_serving
from tests.cluster_procs import ServeProcess, write_config
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from tests.test_cluster_bus import (client, cluster, make_consumer, make_publisher, repo,  # noqa: F401 - fixtures
                                    until)
from tests.test_shadow_mode import GHOST, VAN, _config, _net, _register, _to_network, van_video  # noqa: F401


def _incident(n: int, box: tuple[float, float, float, float], started: float, source: str = "plaza") -> IncidentCreate:
    return IncidentCreate(id=f"inc_5c{n:014x}", type="illegal_parking", source=source, zone="road", started_at=started,
                          confirmed_at=started + 15, class_name="truck", box=box, score=0.9, frame_size=(768, 576))


def test_a_workers_candidate_incidents_are_recorded_as_shadow_by_the_api(
        repo, cluster, make_publisher, make_consumer) -> None:  # noqa: F811
    follow_serving(repo)  # as the API role wires it
    consumer = make_consumer()
    consumer.run_once(block_ms=1)
    publisher = make_publisher("w1")  # the worker's event publisher; its serving model records through it
    candidate = ShadowTagger(publisher, "noisy", review_share=1.0)  # the worker's shadow recorder's sink

    van, ghost, late = (440, 250, 558, 342), (575, 300, 635, 370), (20, 20, 80, 80)
    publisher.add(_incident(1, van, 10.0))  # the serving model's van
    candidate.add(_incident(2, (442, 251, 560, 340), 12.0))  # the candidate's van: its twin
    candidate.add(_incident(3, ghost, 20.0))  # the candidate's own: sampled into the shadow queue
    candidate.add(_incident(4, late, 30.0))  # queued now, then the serving model finds it too
    assert publisher.wait_drained(10)
    until(lambda: consumer.applied >= 4, step=lambda: consumer.run_once(block_ms=20))
    assert [i.id for i in repo.list(status="pending", limit=100)] == [_incident(1, van, 10).id]
    twin, own, queued = (repo.get(_incident(n, van, 0).id) for n in (2, 3, 4))
    assert (twin.status, twin.shadow_model) == ("shadow", "noisy")  # the serving model found it: not queued
    assert (own.status, own.shadow_model) == ("shadow_queue", "noisy")
    assert queued.status == "shadow_queue"

    publisher.add(_incident(5, (22, 21, 81, 79), 31.0))  # the serving model, later, at the same spot
    assert publisher.wait_drained(10)
    until(lambda: consumer.applied >= 5, step=lambda: consumer.run_once(block_ms=20))
    assert repo.get(queued.id).status == "shadow"  # out of the shadow queue: the serving decision judges both

    repo.review(_incident(1, van, 10).id, "confirm", reviewer="r1")
    repo.review(own.id, "reject", reason="no_violation", reviewer="r1")
    result = compare("noisy", repo.list(limit=100)).total()
    assert (result.matched, result.candidate.tp, result.candidate.fp) == (2, 1, 1)  # the van and the late one
    assert repo.get(own.id).status == "shadow"  # decided, still shadow: never a case


@pytest.mark.samples
@pytest.mark.parametrize("how", ["configured", "retrained"])
def test_a_worker_process_runs_its_candidate_in_shadow_and_the_api_records_it(
        how: str, van_video: Path, tmp_path: Path, redis_server, repo,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --role worker` on the rendered parked van with NanoDet serving and `noisy` in shadow (the van and a
    truck that is not there): its events, consumed from Redis as the API role does, become a pending serving
    incident, the candidate's twin as shadow and its phantom in the shadow review queue. The candidate is either
    configured (model.shadow) or set while the worker runs, in place of the configured one, as a retraining from
    the UI does (the assignments)."""
    registry = tmp_path / "models"
    monkeypatch.setenv(ENV_DIRS, str(registry / "registry"))  # the worker process inherits it
    data = tmp_path / "data"
    probe = _config(van_video, data, "plaza", "noisy")
    t = _to_network(registry, probe)
    _register(registry, "noisy", [_net(VAN, t), _net(GHOST, t)])
    body = probe.model_dump(mode="json", exclude_unset=True)
    if how == "retrained":  # another candidate first (the probe); the shadow settings (review_share 1) stay
        body["model"]["shadow"]["model"] = "probe"
    body["cluster"] = {"redis_url": redis_server.url, "lease_s": 2, "heartbeat_s": 0.5}
    config = write_config(tmp_path / "worker.yaml", body)
    cfg = parse_config(body)
    follow_serving(repo)
    consumer = EventConsumer(cfg.cluster, repo, "api1", block_ms=200)
    consumer.run_once(block_ms=1)
    worker = ServeProcess("w1", config, ["--role", "worker", "--worker-id", "w1"], tmp_path).start()
    try:
        if how == "retrained":
            shadow_candidate("noisy", registry / "registry")  # what the training runner does with its result
        def recorded() -> bool:
            consumer.run_once(block_ms=200)
            statuses = {(i.status, i.shadow_model) for i in repo.list(limit=100)}
            return {("pending", None), ("shadow", "noisy"), ("shadow_queue", "noisy")} <= statuses

        deadline = time.monotonic() + 300  # bounds a hung test; not a speed goal
        while not recorded():
            assert worker.alive, worker.log_tail()
            assert time.monotonic() < deadline, worker.log_tail()
    finally:
        worker.stop()
        consumer.stop(timeout_s=5.0)
    pending = repo.list(status="pending", limit=100)
    assert [(i.source, i.class_name) for i in pending] == [("plaza", "truck")]  # NanoDet's van, for review
    assert [i.box[0] > VAN[2] for i in repo.list(status="shadow_queue", limit=100)] == [True]  # the phantom
    assert all(i.shadow_model == "noisy" for i in repo.list(status="shadow", limit=100))


@pytest.mark.samples
def test_a_worker_process_switches_to_a_promoted_model_and_back_without_a_restart(
        van_video: Path, tmp_path: Path, redis_server, repo, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """`serve --role worker` serves NanoDet on the rendered parked van. `streetsight models promote noisy` (a graph
    that also answers a truck where nothing is) switches the running worker: the phantom becomes a serving
    incident, pending review. `models rollback` switches it back: NanoDet does not see the phantom, so its
    incident ends. The worker process is the same throughout."""
    from streetsight.cli import main

    registry = tmp_path / "models"
    monkeypatch.setenv(ENV_DIRS, str(registry / "registry"))  # the worker process and the CLI share it
    probe = _config(van_video, tmp_path / "data", "plaza", "noisy")
    t = _to_network(registry, probe)
    _register(registry, "noisy", [_net(VAN, t), _net(GHOST, t)])
    body = probe.model_dump(mode="json", exclude_unset=True)
    del body["model"]["shadow"]  # NanoDet serves alone
    body["cluster"] = {"redis_url": redis_server.url, "lease_s": 2, "heartbeat_s": 0.5}
    cfg = parse_config(body)
    consumer = EventConsumer(cfg.cluster, repo, "api1", block_ms=200)
    consumer.run_once(block_ms=1)
    worker = ServeProcess("w1", write_config(tmp_path / "worker.yaml", body),
                          ["--role", "worker", "--worker-id", "w1"], tmp_path).start()
    pid = worker.proc.pid

    def phantoms() -> list:
        consumer.run_once(block_ms=200)
        return [i for i in repo.list(limit=100) if i.box[0] > VAN[2]]

    def wait(what: str, ok) -> None:  # noqa: ANN001
        deadline = time.monotonic() + 300  # bounds a hung test; not a speed goal
        while not ok():
            assert worker.alive, worker.log_tail()
            assert time.monotonic() < deadline, f"{what}\n{worker.log_tail()}"

    try:
        assert main(["models", "promote", "noisy", "--force", "--reason", "trial on the workers"]) == 0
        wait("the phantom reported by the promoted model", lambda: any(p.status == "pending" for p in phantoms()))
        [phantom] = phantoms()
        assert phantom.shadow_model is None and phantom.ended_at is None  # a serving incident, for review
        assert main(["models", "rollback"]) == 0
        wait("the phantom's incident ended after the rollback", lambda: phantoms()[0].ended_at is not None)
        assert len(phantoms()) == 1 and worker.proc.pid == pid and worker.alive  # never restarted
    finally:
        worker.stop()
        consumer.stop(timeout_s=5.0)
