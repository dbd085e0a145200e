"""The exported-policy format: ``policy.onnx`` + ``policy.json``, for tools outside patrolmarl.

- :mod:`~patrolmarl.exported.contract`: the ONNX I/O contract (input and output
  names, the masked logit), the format's name and version, the file names.
- :mod:`~patrolmarl.exported.card`: the policy card ``policy.json`` (written,
  read, checked against its district and this version's observation layout).
- :mod:`~patrolmarl.exported.onnx_policy`: an ONNX file as a policy, run with onnxruntime.
- :mod:`~patrolmarl.exported.loader`: an export folder loaded (card, district, policy).

Depends on :mod:`patrolmarl.envs` alone (with numpy and onnxruntime), never on
the training stack: ``patrolmarl export`` writes this format, ``advise`` and any
other consumer read it.
"""
