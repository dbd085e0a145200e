"""BeatPlan files (unit -> cells per time block of the day) and the policy that follows one.

Format (YAML)::

    format: patrolmarl.beat_plan/1
    district: gaoxin            # must match the district it is evaluated on
    dispatch: nearest           # nearest: nearest free unit takes a call ("1+1");
                                # own_beat: a call goes to the nearest free unit
                                # of its beat, to any unit once fallback_minutes old
    blocks: [[0, 6], [6, 12], [12, 18], [18, 24]]   # hours, cover the day once
    beats:
      patrol_0:                 # one list of cells per block, in block order
        - [[3, 4], [3, 5, 2.0]] # [row, col] or [row, col, weight]
        - ...

Every unit of the district needs a non-empty beat in every block. A unit
patrols its beat at random, visiting cells in proportion to their weight
(default 1) and dwelling 15 minutes at each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, model_validator

from patrolmarl.agents.baselines import DWELL_MINUTES
from patrolmarl.agents.movement import AreaPatrol
from patrolmarl.config_types import MAX_MAGNITUDE, StrictModel, Text, number
from patrolmarl.envs.dispatch_rule import HOURS, NEAREST, DispatchRule, zone_rule
from patrolmarl.envs.district import District
from patrolmarl.envs.names import agent_name, agent_names
from patrolmarl.envs.sim_view import SimView
from patrolmarl.errors import ConfigError, PatrolMarlError, echo
from patrolmarl.yaml_config import FieldError, read_yaml_mapping, validate_mapping

FORMAT = "patrolmarl.beat_plan/1"
#: Most time blocks of a plan (15-minute blocks).
MAX_PLAN_BLOCKS = 96

Hour = number(ge=0, le=24)


class BeatPlanFile(StrictModel):
    """The validated shape of a beat-plan file (cells are checked against the district later)."""

    format: Literal["patrolmarl.beat_plan/1"] = FORMAT
    district: Text
    dispatch: Literal["nearest", "own_beat"] = "nearest"
    blocks: list[tuple[Hour, Hour]] = Field(min_length=1, max_length=MAX_PLAN_BLOCKS)
    beats: dict[Text, list[list[list[number(ge=-MAX_MAGNITUDE)]]]]

    @model_validator(mode="after")
    def _check_blocks_and_cells(self) -> BeatPlanFile:
        """The blocks cover the day once; every unit lists its cells per block, well formed."""
        blocks = sorted(self.blocks)
        if blocks[0][0] != 0 or blocks[-1][1] != 24:
            raise FieldError("blocks", "blocks must cover the day from hour 0 to hour 24")
        for (s0, e0), (s1, _) in zip(blocks, blocks[1:], strict=False):
            if s1 < e0:
                raise FieldError("blocks", f"blocks [{s0}, {e0}] and [{s1}, ...] overlap")
            if s1 > e0:
                raise FieldError("blocks", f"hours {e0} to {s1} are in no block")
        if any(e <= s for s, e in blocks):
            raise FieldError("blocks", "each block must end after it starts")
        for name, per_block in self.beats.items():
            if len(per_block) != len(blocks):
                raise FieldError(
                    f"beats.{name}", f"has {len(per_block)} blocks, the plan has {len(blocks)}"
                )
            for k, cells in enumerate(per_block):
                for j, cell in enumerate(cells):
                    where = f"beats.{name}.{k}.{j}"
                    if len(cell) not in (2, 3):
                        raise FieldError(where, "a cell is [row, col] or [row, col, weight]")
                    if cell[0] != int(cell[0]) or cell[1] != int(cell[1]):
                        raise FieldError(where, "row and col must be whole numbers")
                    if len(cell) == 3 and cell[2] <= 0:
                        raise FieldError(where, "a cell's weight must be positive")
        return self


class BeatPlan:
    """A validated plan bound to a district.

    Attributes
    ----------
    block_start_hours
        ``(K,)`` start hour of each block (sorted).
    weights
        ``(K, N, C)`` patrol weight of each cell in each unit's beat per block.
    dispatch
        "nearest" or "own_beat".
    """

    def __init__(
        self, district: District, block_start_hours: np.ndarray, weights: np.ndarray, dispatch: str
    ) -> None:
        self.district = district
        self.block_start_hours = block_start_hours
        self.weights = weights
        self.dispatch = dispatch

    def block_of_hour(self, hour: np.ndarray) -> np.ndarray:
        """Block index of each hour of day."""
        return np.searchsorted(self.block_start_hours, hour, side="right") - 1

    def to_yaml(self, header: str = "") -> str:
        """The plan in the file format, ready to edit: one cell per line, a comment per block.

        Weights keep 4 significant digits. ``header`` lines become comments at the top.
        """
        d = self.district
        blocks = list(zip(self.block_start_hours.tolist(), self._block_ends(), strict=True))
        doc = {
            "format": FORMAT,
            "district": d.name,
            "dispatch": self.dispatch,
            "blocks": [list(b) for b in blocks],
        }
        lines = [f"# {line}".rstrip() for line in header.splitlines()]
        lines += [yaml.safe_dump(doc, sort_keys=False, default_flow_style=None).rstrip(), "beats:"]
        for n in range(d.n_units):
            lines.append(f"  {agent_name(n)}:")
            for k, (start, end) in enumerate(blocks):
                cells = np.flatnonzero(self.weights[k, n] > 0)
                count = f"{cells.size} cell" + ("s" if cells.size != 1 else "")
                lines.append(f"    - # hours {start:g} to {end:g}: {count}")
                lines += [
                    f"      - [{c // d.cols}, {c % d.cols}, {_weight(self.weights[k, n, c])}]"
                    for c in cells
                ]
        return "\n".join(lines) + "\n"

    def _block_ends(self) -> list[float]:
        return [*self.block_start_hours[1:].tolist(), 24.0]


def _weight(w: float) -> str:
    """A positive weight with 4 significant digits, never rounded to zero, always with a dot."""
    return np.format_float_positional(w, precision=4, fractional=False, trim="0")


def load_beat_plan(path: str | Path, district: District) -> BeatPlan:
    """Read and validate a beat-plan file against ``district``.

    Raises
    ------
    PatrolMarlError
        One line naming the file, the field and the reason.
    """
    source = str(path)
    plan = validate_mapping(BeatPlanFile, read_yaml_mapping(path), source)
    return _bind(plan, district, source)


def _bind(plan: BeatPlanFile, district: District, source: str) -> BeatPlan:
    def fail(field: str, reason: str) -> ConfigError:
        return ConfigError(source, field, reason)

    if plan.district != district.name:
        raise fail("district", f"plan is for {echo(plan.district)}, not {district.name!r}")
    blocks = sorted(plan.blocks)
    order = [plan.blocks.index(b) for b in blocks]
    units = {name: n for n, name in enumerate(agent_names(district.n_units))}
    weights = np.zeros((len(blocks), district.n_units, district.n_cells))
    for name, per_block in plan.beats.items():
        if name not in units:
            raise fail(
                f"beats.{name}",
                f"no such unit (the district has {agent_name(0)}..{agent_name(len(units) - 1)})",
            )
        for k_sorted, k_file in enumerate(order):
            for j, cell in enumerate(per_block[k_file]):
                r, c = int(cell[0]), int(cell[1])
                if not (0 <= r < district.rows and 0 <= c < district.cols):
                    raise fail(
                        f"beats.{name}.{k_file}.{j}",
                        f"cell [{r}, {c}] is outside the {district.rows}x{district.cols} grid",
                    )
                w = cell[2] if len(cell) == 3 else 1.0
                weights[k_sorted, units[name], r * district.cols + c] += w
    missing = [name for name in units if name not in plan.beats]
    if missing:
        raise fail(f"beats.{missing[0]}", "unit missing from the plan (every unit needs a beat)")
    for k in range(len(blocks)):
        for name, n in units.items():
            if not (weights[k, n] > 0).any():
                raise fail(f"beats.{name}", f"empty beat in block {list(blocks[k])}")
    starts = np.array([s for s, _ in blocks], dtype=float)
    return BeatPlan(district, starts, weights, plan.dispatch)


class BeatPlanPolicy:
    """Executes a :class:`BeatPlan`: random patrol of each unit's beat of the current block."""

    def __init__(self, plan: BeatPlan, seed: int | None = None, name: str = "beat_plan") -> None:
        self.plan = plan
        self.name = name
        self._rng = np.random.default_rng(seed)
        self._patrol = AreaPatrol(plan.weights, DWELL_MINUTES, self._rng)
        self._view: SimView | None = None

    def bind(self, view: SimView) -> None:
        """Check the plan is for this district and attach."""
        if view.district.config != self.plan.district.config:
            raise PatrolMarlError(f"beat plan {self.name!r} was made for another district config")
        self._view = view

    def reset(self, mask: np.ndarray) -> None:
        """Forget patrol targets of the finished districts."""
        self._patrol.reset(mask.shape[0], mask)

    def dispatch_rule(self) -> DispatchRule:
        """The plan's rule: the nearest free unit, or the nearest free unit of the call's beat."""
        if self.plan.dispatch == "nearest":
            return NEAREST
        return zone_rule(self.plan.weights[self.plan.block_of_hour(np.arange(HOURS))] > 0)

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Patrol the block's beat."""
        view = self._view
        return self._patrol.actions(view, self.plan.block_of_hour(view.hour_of_day))
