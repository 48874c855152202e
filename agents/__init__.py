"""The Mesa agents of the market (owners, platform, buyers) and their decision rules."""

from agents.buyer import GradientBuyer
from agents.owner import DataOwner
from agents.platform import Platform

__all__ = ["DataOwner", "GradientBuyer", "Platform"]
