"""Shadow mode on cluster workers (issue 19): a worker's candidate incidents travel the real Redis event bus tagged
with their model, and the API process records them as shadow (never in the review queue, never a case): sampled
into the shadow review queue when no serving incident overlaps them, taken out when a serving one arrives that
does; the comparison then counts them as in a single-process deployment."""
from __future__ import annotations

from api.model_compare import compare
from api.schemas import IncidentCreate
from streetsight.shadow_records import ShadowTagger, follow_serving
from tests.test_cluster_bus import (client, cluster, make_consumer, make_publisher, repo,  # noqa: F401 - fixtures
                                    until)


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
