"""A model trained on macro actions (``actions: posts``) as a :class:`Policy` of the evaluator.

The evaluator hands out the plain observations and masks; the policy keeps the
units' standing orders (:class:`~patrolmarl.envs.macro_actions.PostOrders`) as
:class:`~patrolmarl.envs.macro_actions.MacroActionVecEnv` does in training,
appends the macro fields, lets the model choose among the posts where units
decide, and returns the core's stay/move actions toward the posts. It runs
under the command centre's nearest dispatch, as it was trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from patrolmarl.agents.candidate_posts import candidate_posts
from patrolmarl.agents.learned import (
    INFERENCE_TORCH_THREADS,
    SB3ModelPolicy,
    checked_normalizer,
    load_model,
    recorded_macro,
)
from patrolmarl.envs.dispatch_rule import NEAREST, DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.incidents import IncidentModel
from patrolmarl.envs.post_orders import DEFAULT_DWELL_MINUTES, PostOrders, macro_layout
from patrolmarl.envs.sim_view import SimView
from patrolmarl.errors import PatrolMarlError


class MacroPostPolicy:
    """An SB3 model of macro actions over ``posts`` (``(24, P)``) as a :class:`Policy`.

    ``model_policy`` runs the model on the macro observations and masks; its
    ``name`` and ``move_gains`` are this policy's.
    """

    uses_observations = True

    def __init__(
        self,
        model_policy: SB3ModelPolicy,
        posts: np.ndarray,
        dwell_minutes: float = DEFAULT_DWELL_MINUTES,
    ) -> None:
        n_actions = int(getattr(model_policy.model.action_space, "n", -1))
        if n_actions != 1 + posts.shape[1]:
            raise PatrolMarlError(
                f"{model_policy.name}: the model has {n_actions} actions, macro actions over "
                f"{posts.shape[1]} posts need {1 + posts.shape[1]}"
            )
        self.model_policy = model_policy
        self.name = model_policy.name
        self.move_gains = model_policy.move_gains
        self.posts = posts
        self.dwell_minutes = dwell_minutes
        self._orders: PostOrders | None = None

    def bind(self, view: SimView) -> None:
        """Keep the orders of the simulator's units."""
        self._orders = PostOrders(view, self.posts, self.dwell_minutes)

    def dispatch_rule(self) -> DispatchRule:
        """``NEAREST``: the command centre sends the calls."""
        return NEAREST

    def reset(self, mask: np.ndarray) -> None:
        """Cancel the orders of the districts starting a new day."""
        self._bound().clear(mask)

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Stay/move actions toward the posts the model orders (plain masks are not needed:
        every stay and move toward a post is allowed)."""
        orders = self._bound()
        orders.refresh()
        macro_obs = np.concatenate([observations, orders.features()], axis=2)
        return orders.primitive_actions(self.model_policy.act(macro_obs, orders.masks()))

    def _bound(self) -> PostOrders:
        if self._orders is None:
            raise RuntimeError("bind() the policy to a simulator first")
        return self._orders


def load_zip_policy(
    path: str | Path,
    district: District,
    torch_threads: int = INFERENCE_TORCH_THREADS,
    name: str | None = None,
) -> SB3ModelPolicy | MacroPostPolicy:
    """The policy of an SB3 ``.zip``: a :class:`MacroPostPolicy` when its run trained on macro
    actions (posts rebuilt from the run's ``macro`` settings), else
    :meth:`SB3ModelPolicy.from_file`.

    Raises
    ------
    PatrolMarlError
        As :meth:`SB3ModelPolicy.from_file`, or if the model's sizes are not those of
        the run's macro actions in ``district``.
    """
    path = Path(path)
    macro = recorded_macro(path)
    if macro is None:
        return SB3ModelPolicy.from_file(path, district, torch_threads=torch_threads, name=name)
    model = load_model(path, torch_threads)
    try:
        posts = candidate_posts(district, IncidentModel(district), macro.get("n_posts"))
    except ValueError as error:
        raise PatrolMarlError(f"{path}: its run's macro.n_posts: {error}") from None
    obs_size = int(np.prod(model.observation_space.shape))
    sizes = {macro_layout(district, posts.shape[1], gains).size: gains for gains in (False, True)}
    if obs_size not in sizes:
        raise PatrolMarlError(
            f"{path}: model expects observations of size {obs_size}; macro actions over "
            f"{posts.shape[1]} posts in district {district.name!r} give {sorted(sizes)}"
        )
    inner = SB3ModelPolicy(
        model, checked_normalizer(path, district), name or path.stem, sizes[obs_size], NEAREST
    )
    return MacroPostPolicy(inner, posts, float(macro.get("dwell_minutes", DEFAULT_DWELL_MINUTES)))
