"""Learned policies as :class:`Policy`: an SB3 model file or an ONNX file.

Both map each agent's observation (and its action mask) to an action; the
files are checked against the district's observation size and action count
when loaded, so a model trained for another district is refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from patrolmarl.agents.policy import SimView
from patrolmarl.envs.core import BatchedSim
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import ObservationBuilder
from patrolmarl.errors import PatrolMarlError


def expected_shapes(district: District) -> tuple[int, int]:
    """(observation size, number of actions) of one agent in ``district``."""
    sim = BatchedSim(district, batch_size=1)
    return ObservationBuilder(sim).size, sim.n_actions


def _check_shapes(path: Path, obs_size: int, n_actions: int, district: District) -> None:
    want_obs, want_actions = expected_shapes(district)
    if obs_size != want_obs or n_actions != want_actions:
        raise PatrolMarlError(
            f"{path}: model expects observations of size {obs_size} and {n_actions} actions; "
            f"district {district.name!r} has {want_obs} and {want_actions}"
        )


class SB3ModelPolicy:
    """A saved stable-baselines3 PPO or sb3-contrib MaskablePPO model (``.zip``)."""

    uses_observations = True

    def __init__(self, path: str | Path, district: District) -> None:
        path = Path(path)
        if not path.is_file():
            raise PatrolMarlError(f"{path}: file not found")
        if not zipfile.is_zipfile(path):
            raise PatrolMarlError(f"{path}: not an SB3 model file (not a zip archive)")
        self.name = path.stem
        self.model = _load_sb3(path)
        space = self.model.observation_space
        n_actions = int(getattr(self.model.action_space, "n", -1))
        _check_shapes(path, int(np.prod(space.shape)), n_actions, district)
        self._maskable = type(self.model).__name__ == "MaskablePPO"

    def bind(self, view: SimView) -> None:
        """Nothing beyond the observations is needed."""

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Deterministic actions of the model for every agent slot."""
        b, n, d = observations.shape
        flat_obs = observations.reshape(b * n, d)
        kwargs = {"action_masks": action_masks.reshape(b * n, -1)} if self._maskable else {}
        actions, _ = self.model.predict(flat_obs, deterministic=True, **kwargs)
        return np.asarray(actions).reshape(b, n)


def _load_sb3(path: Path):
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    errors = []
    for cls in (MaskablePPO, PPO):
        try:
            return cls.load(path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any failure means "not this kind"
            errors.append(f"{cls.__name__}: {exc.__class__.__name__}")
    raise PatrolMarlError(f"{path}: not a loadable PPO/MaskablePPO model ({'; '.join(errors)})")


class OnnxPolicy:
    """An ONNX file mapping observations ``(batch, D)`` (and masks ``(batch, A)``) to logits."""

    uses_observations = True

    def __init__(self, path: str | Path, district: District) -> None:
        path = Path(path)
        if not path.is_file():
            raise PatrolMarlError(f"{path}: file not found")
        try:
            import onnxruntime
        except ImportError:
            raise PatrolMarlError(
                "ONNX policies need onnxruntime: pip install onnxruntime"
            ) from None
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        except Exception:  # noqa: BLE001 - onnxruntime raises its own error types
            raise PatrolMarlError(f"{path}: not a valid ONNX model") from None
        inputs = self._session.get_inputs()
        output = self._session.get_outputs()[0]
        obs_size, n_actions = inputs[0].shape[-1], output.shape[-1]
        if not isinstance(obs_size, int) or not isinstance(n_actions, int):
            raise PatrolMarlError(f"{path}: ONNX model needs fixed observation and logit sizes")
        _check_shapes(path, obs_size, n_actions, district)
        self._inputs = [i.name for i in inputs]
        self.name = path.stem

    def bind(self, view: SimView) -> None:
        """Nothing beyond the observations is needed."""

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Masked argmax of the model's logits."""
        b, n, d = observations.shape
        feed = {self._inputs[0]: observations.reshape(b * n, d).astype(np.float32)}
        masks = action_masks.reshape(b * n, -1)
        if len(self._inputs) > 1:
            feed[self._inputs[1]] = masks.astype(np.float32)
        logits = self._session.run(None, feed)[0]
        return np.argmax(np.where(masks, logits, -np.inf), axis=1).reshape(b, n)
