"""Deploy the CreditEngine contracts from the committed artefacts, grant roles, bind handles.

:func:`deploy_all` deploys the contracts a mode needs (``ATTEST_CONTRACTS`` for ``mode:
attest``; ``FULL_CONTRACTS`` for ``mode: full`` and the demo) from the deployer account, which
also receives every operational role (engine, gateway, governance): one engine account per run.
It returns a :class:`Deployment`: addresses by contract name and a :class:`ContractHandle` per
contract.

:class:`ContractHandle` encodes calls with ``eth_abi`` from the artefact ABI (selector cached per
function) and sends them through :class:`~chain.tx.TxSender` with explicit gas; reads go through
``eth_call``.  No log scanning anywhere: state is read from contract storage via views.
Deployment transactions are sized with one ``eth_estimateGas`` each (+20 %) -- deployment is not
on the hot path; every other transaction carries a fixed gas limit chosen by its caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.artifacts import Artifact, load_artifact
from chain.backends import Backend
from chain.merkle import keccak256
from chain.tx import TxReceipt, TxSender

__all__ = [
    "ATTEST_CONTRACTS",
    "FEE_RECIPIENT_LABEL",
    "FULL_CONTRACTS",
    "ContractHandle",
    "Deployment",
    "attach",
    "deploy_all",
    "deploy_contract",
]

#: contracts deployed for ``mode: attest``
ATTEST_CONTRACTS: tuple[str, ...] = ("Attestor",)
#: contracts deployed for ``mode: full`` and ``ce chain demo`` (in deployment order)
FULL_CONTRACTS: tuple[str, ...] = (
    "Attestor",
    "BRLToken",
    "LoanNote",
    "FundingEscrow",
    "HedgeSettlement",
    "FeatureFlags",
)
#: label of the derived dev account receiving platform fees (see ``chain.backends``)
FEE_RECIPIENT_LABEL = "platform:fee-recipient"
#: gas limits of the wiring calls (measured well below)
ROLE_GAS = 120_000


def _abi_type(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param.get("components", []))
        return f"({inner}){t[5:]}"
    return t


@dataclass
class _Fn:
    name: str
    inputs: list[str]
    outputs: list[str]
    selector: bytes


class ContractHandle:
    """A deployed contract: encode calls from its ABI, send with explicit gas, read views."""

    def __init__(self, name: str, address: str, abi: Sequence[Mapping[str, Any]], sender: TxSender):
        self.name = name
        self.address = address
        self.abi = tuple(abi)
        self.sender = sender
        self._fns: dict[tuple[str, int], _Fn] = {}
        by_name: dict[str, list[_Fn]] = {}
        for item in self.abi:
            if item.get("type") != "function":
                continue
            inputs = [_abi_type(i) for i in item.get("inputs", [])]
            outputs = [_abi_type(o) for o in item.get("outputs", [])]
            sig = f"{item['name']}({','.join(inputs)})"
            fn = _Fn(item["name"], inputs, outputs, keccak256(sig.encode())[:4])
            by_name.setdefault(fn.name, []).append(fn)
        for name_, fns in by_name.items():
            for fn in fns:
                self._fns[(name_, len(fn.inputs))] = fn
        sender.add_error_abi(self.abi)

    def _fn(self, fn_name: str, nargs: int) -> _Fn:
        try:
            return self._fns[(fn_name, nargs)]
        except KeyError:
            known = sorted({n for n, _ in self._fns})
            raise ValueError(
                f"{self.name} has no function {fn_name!r} taking {nargs} argument(s); "
                f"functions: {', '.join(known)}"
            ) from None

    def encode(self, fn_name: str, *args: Any) -> bytes:
        """Calldata of ``fn_name(*args)``."""
        from eth_abi import encode

        fn = self._fn(fn_name, len(args))
        return fn.selector + encode(fn.inputs, list(args))

    def transact(
        self, fn_name: str, *args: Any, gas: int, value: int = 0, label: str | None = None
    ) -> TxReceipt:
        """Send ``fn_name(*args)`` with explicit ``gas``; raises ``TxReverted`` on revert."""
        return self.sender.transact(
            self.address,
            self.encode(fn_name, *args),
            gas,
            value=value,
            label=label or f"{self.name}.{fn_name}",
        )

    def call(self, fn_name: str, *args: Any, block: int | str = "latest") -> Any:
        """Read ``fn_name(*args)``: one output is returned bare, several as a tuple."""
        from eth_abi import decode

        fn = self._fn(fn_name, len(args))
        raw = self.sender.call(self.address, self.encode(fn_name, *args), block=block)
        out = decode(fn.outputs, raw)
        return out[0] if len(out) == 1 else tuple(out)

    def with_sender(self, sender: TxSender) -> ContractHandle:
        """The same contract, sending from another account."""
        return ContractHandle(self.name, self.address, self.abi, sender)

    def __repr__(self) -> str:
        return f"ContractHandle({self.name} at {self.address})"


@dataclass
class Deployment:
    """Deployed contracts on ``backend``: ``addresses`` and ``handles`` by contract name."""

    backend: Backend
    sender: TxSender
    addresses: dict[str, str] = field(default_factory=dict)
    handles: dict[str, ContractHandle] = field(default_factory=dict)
    receipts: list[TxReceipt] = field(default_factory=list)

    def __getitem__(self, name: str) -> ContractHandle:
        try:
            return self.handles[name]
        except KeyError:
            raise KeyError(
                f"contract {name!r} is not deployed here (deployed: {', '.join(self.handles)})"
            ) from None

    def to_json(self) -> dict[str, Any]:
        """Addresses and deployment receipts (JSON-able, no keys)."""
        return {
            "contracts": dict(self.addresses),
            "deploy_receipts": [r.to_json() for r in self.receipts],
        }


def deploy_contract(
    sender: TxSender, name: str, *args: Any, artifact: Artifact | None = None
) -> tuple[ContractHandle, TxReceipt]:
    """Deploy contract ``name`` with constructor ``args`` from ``sender``'s account."""
    from eth_abi import encode

    art = artifact or load_artifact(name)
    ctor = next((i for i in art.abi if i.get("type") == "constructor"), None)
    types = [_abi_type(i) for i in ctor.get("inputs", [])] if ctor else []
    if len(types) != len(args):
        raise ValueError(f"{name} constructor takes {len(types)} argument(s), got {len(args)}")
    init = bytes.fromhex(art.bytecode.removeprefix("0x")) + (
        encode(types, list(args)) if types else b""
    )
    est = sender.client.estimate_gas({"from": sender.account.address, "data": init})
    gas = min(est * 12 // 10 + 10_000, 30_000_000)
    sender.add_error_abi(art.abi)
    receipt = sender.transact(None, init, gas, label=f"deploy {name}")
    if receipt.contract_address is None:
        raise RuntimeError(f"deploy {name}: tx {receipt.tx_hash} has no contract address")
    return ContractHandle(name, receipt.contract_address, art.abi, sender), receipt


def attach(
    backend: Backend, addresses: Mapping[str, str], sender: TxSender | None = None
) -> Deployment:
    """Bind handles to contracts already deployed at ``addresses`` (name -> address)."""
    sender = sender or TxSender(backend)
    dep = Deployment(backend=backend, sender=sender)
    for name, address in addresses.items():
        art = load_artifact(name)
        dep.addresses[name] = address
        dep.handles[name] = ContractHandle(name, address, art.abi, sender)
    return dep


def deploy_all(
    backend: Backend,
    contracts: Sequence[str] = ATTEST_CONTRACTS,
    *,
    sender: TxSender | None = None,
) -> Deployment:
    """Deploy ``contracts`` (names from :data:`FULL_CONTRACTS`), wire them and grant roles.

    The deployer is admin and holds every operational role (Attestor and escrow engine, token
    gateway, hedge engine, flags governance).  The LoanNote's minter is the FundingEscrow; fees
    go to the derived dev account :data:`FEE_RECIPIENT_LABEL`.  Dependencies are checked:
    FundingEscrow needs BRLToken and LoanNote, HedgeSettlement needs Attestor and BRLToken.
    """
    from chain.backends import derived_account

    unknown = [c for c in contracts if c not in FULL_CONTRACTS]
    if unknown:
        raise ValueError(
            f"contracts={list(contracts)!r}: {unknown[0]!r} is not deployable; "
            f"choose from {', '.join(FULL_CONTRACTS)}"
        )
    needs = {"FundingEscrow": ("BRLToken", "LoanNote"), "HedgeSettlement": ("Attestor", "BRLToken")}
    for name, deps in needs.items():
        missing = [d for d in deps if name in contracts and d not in contracts]
        if missing:
            raise ValueError(f"contracts: {name} needs {missing[0]} deployed with it")
    sender = sender or TxSender(backend)
    dep = Deployment(backend=backend, sender=sender)
    me = sender.account.address
    zero = "0x" + "00" * 20

    def put(handle: ContractHandle, receipt: TxReceipt) -> ContractHandle:
        dep.addresses[handle.name] = handle.address
        dep.handles[handle.name] = handle
        dep.receipts.append(receipt)
        return handle

    for name in FULL_CONTRACTS:
        if name not in contracts:
            continue
        if name == "Attestor":
            put(*deploy_contract(sender, "Attestor", me, me))
        elif name == "BRLToken":
            put(*deploy_contract(sender, "BRLToken", me, me))
        elif name == "LoanNote":
            put(*deploy_contract(sender, "LoanNote", me, zero))
        elif name == "FundingEscrow":
            fee_to = derived_account(FEE_RECIPIENT_LABEL).address
            escrow = put(
                *deploy_contract(
                    sender,
                    "FundingEscrow",
                    me,
                    me,
                    dep.addresses["BRLToken"],
                    dep.addresses["LoanNote"],
                    fee_to,
                )
            )
            note = dep.handles["LoanNote"]
            dep.receipts.append(
                note.transact(
                    "grantRole",
                    note.call("MINTER_ROLE"),
                    escrow.address,
                    gas=ROLE_GAS,
                    label="LoanNote.grantRole(MINTER_ROLE, FundingEscrow)",
                )
            )
        elif name == "HedgeSettlement":
            put(
                *deploy_contract(
                    sender,
                    "HedgeSettlement",
                    me,
                    me,
                    dep.addresses["Attestor"],
                    dep.addresses["BRLToken"],
                )
            )
        elif name == "FeatureFlags":
            put(*deploy_contract(sender, "FeatureFlags", me, me))
    return dep
