"""How far patrol can push theft down in the default district: a hand-made upper bound.

Runs `fixed_zone`, `pmedian`, and `pmedian` with 4 units parked all day on the
district's 4 hottest theft cells (the p-median's other units keep answering
calls), on the same days, and prints thefts per day with the paired
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

PARKED_UNITS = (4, 5, 6, 7)  # the e-patrol cars of precincts 3 and 4


class HotSpotGuard(PMedianPolicy):
    """pmedian, except that four units stand on the given cells all day."""

    name = "hot_spot_guard"

    def __init__(self, seed: int | None, cells: np.ndarray) -> None:
        super().__init__(seed)
        self.cells = cells

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        view = self._view
        target = self.plan.sites[view.hour_of_day].copy()
        target[:, list(PARKED_UNITS)] = self.cells
        return moves_toward(view, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    district = District.load("gaoxin")
    theft = IncidentModel(district)
    t = theft.type_names.index("theft")
    rate = theft.rate_per_minute[:, t, :].sum(axis=0)
    hottest = np.argsort(rate)[::-1]
    share = rate[hottest] / rate.sum()
    cells = hottest[: len(PARKED_UNITS)]
    parked = ", ".join(f"({c // district.cols}, {c % district.cols})" for c in cells)
    print(f"theft in the 20 hottest of {share.size} cells: {share[:20].sum():.1%}")
    print(f"parked on {parked}: {share[: cells.size].sum():.1%} of theft")
    policies = [
        FixedZonePolicy(args.seed),
        PMedianPolicy(args.seed),
        HotSpotGuard(args.seed, cells),
    ]
    ev = evaluate(district, policies, args.days, args.seed, with_limit=False)
    for r in ev.results:
        candidates = sum(int((rec.type == t).sum()) for rec in r.records) / args.days
        line = (
            f"{r.name:15s} thefts/day {r.summary['thefts_per_day']:.2f} "
            f"(candidates {candidates:.2f}), response {r.summary['response_mean']:.2f} min"
        )
        if r.name != ev.baseline:
            diff = r.vs_baseline["thefts_per_day"]
            line += (
                f", vs fixed_zone {diff['relative']:+.1%} "
                f"[{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"
            )
        print(line)


if __name__ == "__main__":
    main()
