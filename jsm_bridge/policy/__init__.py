"""The policy language: loading YAML policies, their schema, conditions, durations and templates."""

from jsm_bridge.policy.loader import PolicyError, Problem, load_policies, load_policy
from jsm_bridge.policy.model import Policy

__all__ = ["Policy", "PolicyError", "Problem", "load_policies", "load_policy"]
