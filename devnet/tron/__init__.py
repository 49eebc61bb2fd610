"""Local TRON devnet: java-tron's HTTP API (as tronpy calls it) plus TronGrid's /v1 endpoints."""

from devnet.tron.config import TronDevnetConfig
from devnet.tron.server import TronDevnet

__all__ = ["TronDevnet", "TronDevnetConfig"]
