"""Repeat offenders on the real vtest street (issue 14, item 6): the two pieces of litter on the lawn are
confirmed after the first run of the camera, and are over when it ends; the next run finds them again and links
each one to its own earlier incident and case (real MobileNetV2 embeddings of real footage), while the fire
assembly-point sign, rejected, has no history."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.api_env import ApiEnv
from tests.media import first_seconds
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from tests.test_verification_vtest import SECONDS, analyze, write_config

pytestmark = pytest.mark.samples


def test_the_litter_found_again_on_the_next_run_is_linked_to_its_own_closed_offence(vtest_mp4: Path,
                                                                                     tmp_path: Path):
    video = first_seconds(vtest_mp4, tmp_path / "vtest_46s.mp4", SECONDS)
    cfg = write_config(tmp_path)
    first = analyze(video, cfg)
    litter = sorted((i for i in first if i["zone"] == "lawn"), key=lambda i: i["box"][0])  # cloth, then paper
    sign = next(i for i in first if i["zone"] == "plaza")
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'data' / 'streetsight.db'}")
    try:
        reviewer = env.client("reviewer")
        for inc in litter:
            r = reviewer.post(f"/api/v1/incidents/{inc['id']}/review", json={"decision": "confirm"})
            assert r.status_code == 200, r.text
        assert reviewer.post(f"/api/v1/incidents/{sign['id']}/review",
                             json={"decision": "reject", "reason": "false_detection"}).status_code == 200
        cases = [reviewer.get(f"/api/v1/incidents/{inc['id']}/case").json()["number"] for inc in litter]
        assert all(reviewer.get(f"/api/v1/incidents/{inc['id']}").json()["ended_wall"] for inc in litter)

        second = analyze(video, cfg)  # the same camera on its next run: the litter is still there
        again = sorted((i for i in second if i["zone"] == "lawn"), key=lambda i: i["box"][0])
        assert len(again) == 2
        for earlier, case_number, inc in zip(litter, cases, again):
            shown = reviewer.get(f"/api/v1/incidents/{inc['id']}").json()
            assert shown["history"] is not None, inc
            assert shown["history"]["count"] == 1
            [previous] = shown["history"]["previous"]
            assert (previous["incident_id"], previous["case_number"]) == (earlier["id"], case_number)
            assert previous["similarity"] >= 0.8
        sign_again = next(i for i in second if i["zone"] == "plaza")
        assert reviewer.get(f"/api/v1/incidents/{sign_again['id']}").json()["history"] is None
    finally:
        env.close()
