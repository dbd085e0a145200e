"""Advice resolves units accepting one call exactly as the simulator's core does."""

from __future__ import annotations

import json

import numpy as np

from patrolmarl.advise import read_snapshot, situation, snapshot_from_sim
from patrolmarl.advise.recommend import recommend
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.status import FIRST_ACCEPT


def _random_allowed(rng: np.random.Generator, masks: np.ndarray, accept_share: float) -> np.ndarray:
    """One allowed action per row of ``(N, A)`` masks, an accept with ``accept_share``."""
    actions = np.zeros(masks.shape[0], dtype=np.int64)
    for n, allowed in enumerate(masks):
        accepts = np.flatnonzero(allowed[FIRST_ACCEPT:]) + FIRST_ACCEPT
        if accepts.size and rng.random() < accept_share:
            actions[n] = rng.choice(accepts)
        else:
            actions[n] = rng.choice(np.flatnonzero(allowed))
    return actions


def test_advice_gives_each_call_to_the_unit_the_core_sends(tmp_path):
    district = District.load("gaoxin", **{"call_types.noise.daily_rate": 400})
    rng = np.random.default_rng(11)
    sim = BatchedSim(district, batch_size=1)
    sim.reset(seeds=[7])
    path = tmp_path / "snapshot.json"
    contested = 0
    for step in range(400):
        masks = sim.action_masks()
        if step % 10 == 9 and masks[0, :, FIRST_ACCEPT:].any(axis=1).sum() >= 2:
            path.write_text(json.dumps(snapshot_from_sim(sim, 0)))
            sit = situation(read_snapshot(path, district), district)
            actions = _random_allowed(rng, sit.masks, accept_share=0.9)
            recs = recommend(sit, actions)
            accepting = np.flatnonzero(actions >= FIRST_ACCEPT)
            claimed = sit.sim.nearest_call[0, accepting, actions[accepting] - FIRST_ACCEPT]
            contested += int(claimed.size - np.unique(claimed).size)
            sit.sim.step(actions)  # the core resolves the same accepts
            for n, call in zip(accepting.tolist(), claimed.tolist(), strict=True):
                rec = recs[n]
                if rec.kind == "accept":
                    assert sit.sim.calls.unit[0, call] == n, (step, n)
                else:
                    assert rec.action == 0 and sit.sim.calls.unit[0, call] != n, (step, n)
        sim.step(_random_allowed(rng, masks[0], accept_share=0.2)[None])
    assert contested >= 5  # the rule was exercised, not just single accepts
