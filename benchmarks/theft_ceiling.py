"""How far patrol can push theft down in the default district: a hand-made upper bound.

Runs `fixed_zone`, `pmedian`, and `pmedian` with 4 units parked all day on the
cells around the main theft hot spot (the p-median's other units keep
answering calls), on the same days, and prints thefts per day with the paired
95 % interval against fixed_zone, plus the theft concentration of the district.

    python benchmarks/theft_ceiling.py [--days 30] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from patrolmarl.agents.baselines import FixedZonePolicy, PMedianPolicy
from patrolmarl.agents.movement import moves_toward
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.evaluation.evaluate import evaluate

HOT_SPOT_CELLS = ((14, 5), (14, 4), (13, 5), (15, 5))  # gaoxin's urban-village hot spot
PARKED_UNITS = (4, 5, 6, 7)  # the e-patrol cars of precincts 3 and 4


class HotSpotGuard(PMedianPolicy):
    """pmedian, except that four units stand on the hot spot all day."""

    name = "hot_spot_guard"

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        view = self._view
        cols = view.district.cols
        target = self.plan.sites[view.hour_of_day].copy()
        for unit, (row, col) in zip(PARKED_UNITS, HOT_SPOT_CELLS, strict=True):
            target[:, unit] = row * cols + col
        return moves_toward(view, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    district = District.load("gaoxin")
    theft = IncidentModel(district)
    t = theft.type_names.index("theft")
    share = np.sort(theft.rate_per_minute[:, t, :].sum(axis=0))[::-1]
    share /= share.sum()
    print(f"theft in the 20 hottest of {share.size} cells: {share[:20].sum():.1%}")
    policies = [FixedZonePolicy(args.seed), PMedianPolicy(args.seed), HotSpotGuard(args.seed)]
    ev = evaluate(district, policies, args.days, args.seed, with_limit=False)
    for r in ev.results:
        candidates = sum(int((rec.type == t).sum()) for rec in r.records) / args.days
        diff = r.vs_baseline["thefts_per_day"]
        print(
            f"{r.name:15s} thefts/day {r.summary['thefts_per_day']:.2f} "
            f"(candidates {candidates:.2f}), response {r.summary['response_mean']:.2f} min, "
            f"vs fixed_zone {diff['relative']:+.1%} [{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"
        )


if __name__ == "__main__":
    main()
