"""An exported ``policy.onnx`` as a policy: observations and masks in, actions out (onnxruntime).

The graph is fed by the names of the I/O contract (:mod:`patrolmarl.exported.contract`):
``observation`` ``(batch, D)`` and, when the graph takes it, ``action_mask``
``(batch, A)``; its ``logits`` output decides (masked argmax). The policy card
beside the file names the district it was trained for, and the district's
observation layout says whether it reads the move gains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from patrolmarl.envs.dispatch_rule import DispatchRule
from patrolmarl.envs.district import District
from patrolmarl.envs.observations import observes_move_gains
from patrolmarl.errors import PatrolMarlError
from patrolmarl.exported.card import card_dispatch, card_record, check_trained_for, read_card
from patrolmarl.exported.contract import CARD_FILE, LOGITS_OUTPUT, MASK_INPUT, OBSERVATION_INPUT


class OnnxPolicy:
    """An ONNX file mapping observations ``(batch, D)`` (and masks ``(batch, A)``) to logits.

    ``patrolmarl export`` writes such files (raw observations and float masks
    in, masked log-probabilities and actions out); other graphs qualify when
    they keep the contract's input and output names.
    """

    uses_observations = True

    def __init__(self, path: str | Path, district: District, name: str | None = None) -> None:
        """Load ``path``, checked against ``district`` by the card beside it.

        Raises
        ------
        PatrolMarlError
            If the file is missing or not an ONNX model, lacks the contract's
            inputs or output, has sizes of another district, or its card is
            missing or names another district config.
        """
        path = Path(path)
        if not path.is_file():
            raise PatrolMarlError(f"{path}: file not found")
        try:
            import onnxruntime
        except ImportError:
            raise PatrolMarlError(
                "ONNX policies need onnxruntime: pip install onnxruntime"
            ) from None
        # One thread: for a policy's small network a pool of spinning threads costs more
        # than it saves (twice the time per call on a busy 2-core machine); callers that
        # want more throughput run processes in parallel.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # noqa: BLE001 - onnxruntime raises its own error types
            raise PatrolMarlError(f"{path}: not a valid ONNX model") from None
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        if OBSERVATION_INPUT not in inputs or LOGITS_OUTPUT not in outputs:
            raise PatrolMarlError(
                f"{path}: ONNX model has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
                f"a policy takes {OBSERVATION_INPUT!r} (and {MASK_INPUT!r}) and gives "
                f"{LOGITS_OUTPUT!r}"
            )
        obs_size = inputs[OBSERVATION_INPUT].shape[-1]
        n_actions = outputs[LOGITS_OUTPUT].shape[-1]
        if not isinstance(obs_size, int) or not isinstance(n_actions, int):
            raise PatrolMarlError(f"{path}: ONNX model needs fixed observation and logit sizes")
        self.move_gains = observes_move_gains(path, obs_size, n_actions, district)
        card_path = path.with_name(CARD_FILE)
        if not card_path.is_file():
            raise PatrolMarlError(
                f"{path}: no {CARD_FILE} beside it, so the district it was trained for is "
                "unknown; export it with patrolmarl export RUN --out DIR"
            )
        check_trained_for(path, district, card_path, *card_record(card_path))
        self.dispatch = card_dispatch(read_card(card_path), card_path)
        self._takes_masks = MASK_INPUT in inputs
        self._path = path
        self._n_actions = n_actions
        self.name = name or path.stem

    def bind(self, view: object) -> None:
        """Nothing beyond the observations is needed."""

    def dispatch_rule(self) -> DispatchRule:
        """The rule its card says it was trained under (``AGENTS`` or ``NEAREST``)."""
        return self.dispatch

    def reset(self, mask: np.ndarray) -> None:
        """Feed-forward policies keep no memory."""

    def act(self, observations: np.ndarray, action_masks: np.ndarray) -> np.ndarray:
        """Masked argmax of the model's logits."""
        b, n, d = observations.shape
        feed = {OBSERVATION_INPUT: observations.reshape(b * n, d).astype(np.float32)}
        masks = action_masks.reshape(b * n, -1)
        if self._takes_masks:
            feed[MASK_INPUT] = masks.astype(np.float32)
        try:
            logits = np.asarray(self._session.run([LOGITS_OUTPUT], feed)[0])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise PatrolMarlError(
                f"{self._path}: the ONNX model failed when run "
                f"({type(exc).__name__}{': ' + reason if reason else ''})"
            ) from None
        if logits.shape != (b * n, self._n_actions):
            raise PatrolMarlError(
                f"{self._path}: the ONNX model gave logits of shape {logits.shape}, "
                f"expected {(b * n, self._n_actions)}"
            )
        return np.argmax(np.where(masks, logits, -np.inf), axis=1).reshape(b, n)
