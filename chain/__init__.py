"""The chain side: compiling, deploying, sending, Merkle attestation, escrow settlement.

Every call to a chain node of the project lives in this package; ``sim`` reaches it only through
``sim.attest.make_sink``. Public names are re-exported here *lazily* (PEP 562), so that
``import chain.merkle`` or ``python -m chain.compile`` does not pay for importing py-evm.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Artifact": "chain.artifacts",
    "AttestationBridge": "chain.bridge",
    "AuctionSettler": "chain.settlement",
    "Backend": "chain.backends",
    "BridgeWorker": "chain.worker",
    "BridgeWorkerError": "chain.worker",
    "ChainClient": "chain.client",
    "Deployment": "chain.deploy",
    "KINDS": "chain.records",
    "ReconciliationError": "chain.reconcile",
    "Record": "chain.records",
    "StaleArtifactsError": "chain.artifacts",
    "TxReverted": "chain.tx",
    "TxSender": "chain.tx",
    "VerifyReport": "chain.verify",
    "artifact_names": "chain.artifacts",
    "assert_reconciled": "chain.reconcile",
    "build_tree": "chain.merkle",
    "check_fresh": "chain.artifacts",
    "deploy_all": "chain.deploy",
    "leaf_hash": "chain.merkle",
    "load_artifact": "chain.artifacts",
    "load_chain_state": "chain.state",
    "merkle_root": "chain.merkle",
    "open_attestation_bridge": "chain.bridge",
    "open_backend": "chain.backends",
    "run_demo": "chain.demo",
    "save_chain_state": "chain.state",
    "stale_sources": "chain.artifacts",
    "verify_proof": "chain.merkle",
    "verify_run": "chain.verify",
}

__all__ = [
    "KINDS",
    "Artifact",
    "AttestationBridge",
    "AuctionSettler",
    "Backend",
    "BridgeWorker",
    "BridgeWorkerError",
    "ChainClient",
    "Deployment",
    "ReconciliationError",
    "Record",
    "StaleArtifactsError",
    "TxReverted",
    "TxSender",
    "VerifyReport",
    "artifact_names",
    "assert_reconciled",
    "build_tree",
    "check_fresh",
    "deploy_all",
    "leaf_hash",
    "load_artifact",
    "load_chain_state",
    "merkle_root",
    "open_attestation_bridge",
    "open_backend",
    "run_demo",
    "save_chain_state",
    "stale_sources",
    "verify_proof",
    "verify_run",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
