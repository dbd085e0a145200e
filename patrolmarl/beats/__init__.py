"""Beats for planners: where each unit patrols, derived from a policy, drawn, written and judged.

:func:`~patrolmarl.beats.recommendation.recommend_beats` is the pipeline behind
``patrolmarl beats``: it records a policy's idle patrol time
(:mod:`~patrolmarl.beats.patrol_time`), derives each unit's beat per time block
(:mod:`~patrolmarl.beats.derivation`), writes the plan, GeoJSON
(:mod:`~patrolmarl.beats.geometry`), schedule and maps
(:mod:`~patrolmarl.beats.outputs`, :mod:`~patrolmarl.beats.maps`) and judges the
plan against its source and ``fixed_zone`` (:mod:`~patrolmarl.beats.judgement`).
The plan file and the policy that follows it are agents
(:mod:`patrolmarl.agents.beat_plan`).
"""
