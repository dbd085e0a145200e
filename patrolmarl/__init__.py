"""patrolmarl: multi-agent reinforcement learning for street patrol."""

__version__ = "0.1.0"
