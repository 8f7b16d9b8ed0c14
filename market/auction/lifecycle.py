"""Commit–reveal auction lifecycle as pure transitions over a frozen :class:`AuctionState`.

Functions (each returns a new state, never mutates one):

- :func:`open_auction` ``(request, rules) -> AuctionState`` — phase ``OPEN``,
  ``close_at = opened_at + ttl_s``.
- :func:`commit` ``(state, *, offer_id, lender, commitment, t) -> CommitOutcome`` — a sealed
  offer.  Rejections (values, not exceptions): ``CLOSED`` (t ≥ close_at), ``DUPLICATE_OFFER_ID``,
  ``MAX_OFFERS`` (the lender already has ``max_offers_per_lender`` accepted commits),
  ``COOLDOWN`` (less than ``cooldown_s`` since that lender's previous accepted commit).
  Anti-sniping: an accepted commit with ``close_at − t < snipe_window_s`` moves
  ``close_at += snipe_extension_s``, at most ``max_extensions`` times.
- :func:`reveal` ``(state, *, offer_id, amount_cents, rate_bps, salt, t) -> RevealOutcome`` —
  accepted in ``[close_at, close_at + reveal_window_s)`` when
  :func:`~market.auction.commitment.offer_commitment` matches; otherwise ``BAD_REVEAL`` with a
  ``detail`` (``early``, ``late``, ``mismatch``, ``unknown_offer``, ``already_revealed``,
  ``invalid``).  A rejected reveal leaves the offer unrevealed (it may be retried in the window).
- :func:`close` ``(state, t)`` — ends the reveal window (t ≥ its end, or t ≥ close_at once every
  commit is revealed); unrevealed commits become offers with ``revealed=False`` (amount and rate
  0 = unknown).  Phase ``CLOSED``.
- :func:`clear` ``(state, clearing=None)`` — runs the clearing; phase ``CLEARED`` or ``UNFILLED``.
- :func:`confirm` ``(state, free_balances, clearing=None) -> ConfirmOutcome`` — LoanConfirmed:
  a winner whose lender lacks free balance is dropped (``INSUFFICIENT_FUNDS``; a lender's
  allocations are kept greedily in clearing order while they fit) and clearing is re-run without
  the dropped offers until stable.  Returns the debits per lender; phase ``CONFIRMED`` (or
  ``UNFILLED`` if the drops leave too little supply).  No capital moves before this step.

Batch transitions (same rules, same resulting state as the one-by-one calls, checked by
property tests): :class:`CommitBatch` ``(state)`` applies a run of commits — ``.commit(...)``
returns ``(accepted, reason, extended)`` and ``.state()`` the frozen result — and
:func:`reveal_many` ``(state, reveals) -> (state, outcomes)`` applies a run of
:class:`Reveal` records; :func:`reveal_and_clear` ``(state, reveals, t, clearing=None) ->
(state, outcomes)`` is ``reveal_many`` + ``close`` + ``clear`` in one step.  The reveal
functions take ``address_of`` (lender id -> address, default
:func:`~market.auction.commitment.lender_address`) for the commitment check.

Helpers: :func:`reveal_deadline`, :func:`stage`, :func:`settlement_payload` (the
``settle_auction`` mapping for the chain sink, without ``escrow_cents_after``).

Calling a function in the wrong phase (or with time before ``opened_at``) is a programmer error
and raises :class:`~market.validation.FieldError` (a ``ValueError``).  Cost: :func:`commit` and
:func:`reveal` copy the state's tuples and dicts, i.e. O(commits) per call; the batch forms copy
once per batch, so a run of n commits or reveals costs O(n) in all.

Commit arguments are checked once, where they enter (:func:`commit`, :meth:`CommitBatch.commit`);
a reveal's amount, rate and salt are checked by the reveal rule itself (a malformed reveal is a
``BAD_REVEAL``, not an exception).  The offers a reveal or the close produces are
:class:`~market.auction.types.OfferRecord` s built from those checked values; states are
built by keyword (``dataclasses.replace``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from market.auction.clearing import clear as clear_numpy
from market.auction.clearing_reference import clear_reference
from market.auction.commitment import AddressOf, commitment_hash, lender_address
from market.auction.types import (
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    OfferRecord,
)
from market.validation import SECONDS, TEXT, Bytes, FieldError, check

__all__ = [
    "AuctionState",
    "Commit",
    "CommitBatch",
    "CommitOutcome",
    "ConfirmOutcome",
    "Reveal",
    "RevealOutcome",
    "clear",
    "close",
    "commit",
    "confirm",
    "open_auction",
    "reveal",
    "reveal_and_clear",
    "reveal_deadline",
    "reveal_many",
    "settlement_payload",
    "stage",
]

ClearingFn = Callable[[AuctionRequest, Sequence[OfferRecord], AuctionRules], ClearingResult]
#: auctions with more offers than this are cleared by the numpy path by default
_NUMPY_FROM = 1000
_ZERO_SALT = bytes(32)
_INT64_END = 2**63
_COMMITMENT = Bytes(32)
_ACCEPTED = (True, None, None)


@dataclass(frozen=True, slots=True)
class Commit:
    """An accepted sealed offer: ``commitment`` is the 32-byte hash, ``committed_at`` in s."""

    offer_id: str
    lender: str
    commitment: bytes
    committed_at: int | float


@dataclass(frozen=True, slots=True, kw_only=True)
class Reveal:
    """One reveal handed to :func:`reveal_many` / :func:`reveal_and_clear`: the committed
    ``amount_cents``, ``rate_bps`` and ``salt`` of offer ``offer_id``, revealed at time ``t``."""

    offer_id: str
    amount_cents: int
    rate_bps: int
    salt: bytes
    t: int | float


@dataclass(frozen=True, slots=True)
class AuctionState:
    """One auction's state.  The dict fields are never mutated (each transition copies)."""

    request: AuctionRequest
    rules: AuctionRules
    phase: str  # OPEN, CLOSED, CLEARED, UNFILLED, CONFIRMED
    close_at: int | float
    extensions: int = 0
    commits: tuple[Commit, ...] = ()
    #: offer_id -> position in ``commits``
    commit_index: Mapping[str, int] = field(default_factory=dict)
    #: lender -> (accepted commits, time of the last accepted commit)
    lenders: Mapping[str, tuple[int, int | float]] = field(default_factory=dict)
    #: offer_id -> (revealed offer, salt)
    reveals: Mapping[str, tuple[OfferRecord, bytes]] = field(default_factory=dict)
    bad_reveals: int = 0
    #: the clearing input, in commit order (set by :func:`close`)
    offers: tuple[OfferRecord, ...] = ()
    result: ClearingResult | None = None
    #: offer_ids dropped at confirmation for INSUFFICIENT_FUNDS
    dropped: tuple[str, ...] = ()
    #: lender -> cents debited at confirmation
    debits: Mapping[str, int] = field(default_factory=dict)

    def offers_of(self, lender: str) -> int:
        """Accepted commits of ``lender``."""
        entry = self.lenders.get(lender)
        return entry[0] if entry else 0


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    state: AuctionState
    accepted: bool
    reason: str | None = None
    extended: bool = False


@dataclass(frozen=True, slots=True)
class RevealOutcome:
    state: AuctionState
    accepted: bool
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ConfirmOutcome:
    state: AuctionState
    debits: Mapping[str, int]
    dropped: tuple[str, ...]


def _need(state: AuctionState, *phases: str, action: str) -> None:
    if state.phase not in phases:
        raise FieldError(
            "phase",
            state.phase,
            f"must be {' or '.join(phases)} to {action} auction {state.request.auction_id}",
        )


def _time(state: AuctionState, t: int | float, action: str) -> int | float:
    t = check("t", t, SECONDS)
    opened_at = state.request.opened_at
    if t < opened_at:
        raise FieldError(
            "t", t, f"must not be before auction {state.request.auction_id} opened at "
            f"{opened_at} (to {action})"
        )  # fmt: skip
    return t


def open_auction(request: AuctionRequest, rules: AuctionRules | None = None) -> AuctionState:
    """A new auction in phase OPEN with ``close_at = opened_at + ttl_s``."""
    rules = rules if rules is not None else AuctionRules()
    return AuctionState(
        request=request, rules=rules, phase="OPEN", close_at=request.opened_at + rules.ttl_s
    )


def reveal_deadline(state: AuctionState) -> int | float:
    """End (exclusive) of the reveal window: ``close_at + reveal_window_s``."""
    return state.close_at + state.rules.reveal_window_s


def stage(state: AuctionState, t: int | float) -> str:
    """Where an OPEN auction is at time ``t``: ``COMMIT``, ``REVEAL`` or ``CLOSABLE``;
    otherwise its phase."""
    if state.phase != "OPEN":
        return state.phase
    if t < state.close_at:
        return "COMMIT"
    return "REVEAL" if t < reveal_deadline(state) else "CLOSABLE"


def _commit_record(
    state: AuctionState, offer_id: str, lender: str, commitment: bytes, t: int | float
) -> Commit:
    """The commit's arguments, checked (this is where they enter ``market/``)."""
    t = _time(state, t, "commit")
    return Commit(
        offer_id=check("offer_id", offer_id, TEXT),
        lender=check("lender", lender, TEXT),
        commitment=check("commitment", commitment, _COMMITMENT),
        committed_at=t,
    )


def _commit_rule(
    rules: AuctionRules,
    close_at: int | float,
    extensions: int,
    commit_index: Mapping[str, int],
    lenders: Mapping[str, tuple[int, int | float]],
    c: Commit,
) -> tuple[str | None, int, bool]:
    """The commit rule: (rejection reason or None, lender's accepted count, extends close)."""
    t = c.committed_at
    if t >= close_at:
        return "CLOSED", 0, False
    if c.offer_id in commit_index:
        return "DUPLICATE_OFFER_ID", 0, False
    count, last = lenders.get(c.lender, (0, None))
    if count >= rules.max_offers_per_lender:
        return "MAX_OFFERS", count, False
    if last is not None and t - last < rules.cooldown_s:
        return "COOLDOWN", count, False
    extended = close_at - t < rules.snipe_window_s and extensions < rules.max_extensions
    return None, count, extended


def commit(
    state: AuctionState, *, offer_id: str, lender: str, commitment: bytes, t: int | float
) -> CommitOutcome:
    """Accept or reject a sealed offer at time ``t`` (see the module docstring)."""
    _need(state, "OPEN", action="commit to")
    c = _commit_record(state, offer_id, lender, commitment, t)
    rules = state.rules
    close_at, extensions = state.close_at, state.extensions
    reason, count, extended = _commit_rule(
        rules, close_at, extensions, state.commit_index, state.lenders, c
    )
    if reason is not None:
        return CommitOutcome(state, False, reason)
    if extended:
        close_at += rules.snipe_extension_s
        extensions += 1
    lenders = dict(state.lenders)
    lenders[c.lender] = (count + 1, c.committed_at)
    index = dict(state.commit_index)
    index[c.offer_id] = len(state.commits)
    new = replace(
        state,
        close_at=close_at,
        extensions=extensions,
        commits=(*state.commits, c),
        commit_index=index,
        lenders=lenders,
    )
    return CommitOutcome(new, True, None, extended)


class CommitBatch:
    """A run of commits applied to an OPEN ``state`` in O(1) each, by the rules of
    :func:`commit` (same validation, same outcomes, same resulting state).

    ``.commit(offer_id=, lender=, commitment=, t=)`` returns ``(accepted, reason, extended)``;
    ``.close_at`` / ``.extensions`` follow the accepted commits; ``.state()`` is the frozen
    :class:`AuctionState` after them (the batch may go on afterwards).
    """

    __slots__ = ("_base", "_close_at", "_commits", "_extensions", "_index", "_lenders")

    def __init__(self, state: AuctionState) -> None:
        _need(state, "OPEN", action="commit to")
        self._base = state
        self._close_at = state.close_at
        self._extensions = state.extensions
        self._commits = list(state.commits)
        self._index = dict(state.commit_index)
        self._lenders = dict(state.lenders)

    @property
    def close_at(self) -> int | float:
        return self._close_at

    @property
    def extensions(self) -> int:
        return self._extensions

    def commit(
        self, *, offer_id: str, lender: str, commitment: bytes, t: int | float
    ) -> tuple[bool, str | None, bool]:
        """Apply one commit (see :func:`commit`): ``(accepted, reason, extended)``."""
        base = self._base
        c = _commit_record(base, offer_id, lender, commitment, t)
        reason, count, extended = _commit_rule(
            base.rules, self._close_at, self._extensions, self._index, self._lenders, c
        )
        if reason is not None:
            return False, reason, False
        self._lenders[c.lender] = (count + 1, c.committed_at)
        self._index[c.offer_id] = len(self._commits)
        self._commits.append(c)
        if extended:
            self._close_at += base.rules.snipe_extension_s
            self._extensions += 1
        return True, None, extended

    def state(self) -> AuctionState:
        """The frozen state after the commits so far."""
        base = self._base
        if len(self._commits) == len(base.commits):
            return base
        return replace(
            base,
            close_at=self._close_at,
            extensions=self._extensions,
            commits=tuple(self._commits),
            commit_index=dict(self._index),
            lenders=dict(self._lenders),
        )


def _reveal_rule(
    state: AuctionState,
    reveals: Mapping[str, tuple[OfferRecord, bytes]],
    r: Reveal,
    t: int | float,
    address_of: AddressOf,
) -> tuple[str | None, OfferRecord | None]:
    """The reveal rule at (checked) time ``t`` against ``state``'s commits and the ``reveals``
    so far: (BAD_REVEAL detail, None) or (None, the revealed offer)."""
    offer_id, amount_cents, rate_bps, salt = r.offer_id, r.amount_cents, r.rate_bps, r.salt
    pos = state.commit_index.get(offer_id)
    if pos is None:
        return "unknown_offer", None
    if offer_id in reveals:
        return "already_revealed", None
    if t < state.close_at:
        return "early", None
    if state.phase != "OPEN" or t >= reveal_deadline(state):
        return "late", None
    if not (
        type(amount_cents) is int
        and 0 <= amount_cents < _INT64_END  # int64, as the numpy clearing stores it
        and type(rate_bps) is int
        and 0 <= rate_bps < _INT64_END
        and isinstance(salt, bytes)
        and len(salt) == 32
    ):
        return "invalid", None
    c = state.commits[pos]
    aid = state.request.auction_id
    if commitment_hash(aid, address_of(c.lender), amount_cents, rate_bps, salt) != c.commitment:
        return "mismatch", None
    if amount_cents == 0:
        return "invalid", None
    # every field is checked by now (commit: ids and time; above: amount, rate)
    offer = OfferRecord(
        offer_id=offer_id,
        lender=c.lender,
        amount_cents=amount_cents,
        rate_bps=rate_bps,
        committed_at=c.committed_at,
        revealed=True,
    )
    return None, offer


def reveal(
    state: AuctionState,
    *,
    offer_id: str,
    amount_cents: int,
    rate_bps: int,
    salt: bytes,
    t: int | float,
    address_of: AddressOf = lender_address,
) -> RevealOutcome:
    """Open a sealed offer at time ``t`` (see the module docstring)."""
    _need(state, "OPEN", "CLOSED", action="reveal in")
    r = Reveal(offer_id=offer_id, amount_cents=amount_cents, rate_bps=rate_bps, salt=salt, t=t)
    detail, offer = _reveal_rule(state, state.reveals, r, _time(state, t, "reveal"), address_of)
    if offer is None:
        bad = replace(state, bad_reveals=state.bad_reveals + 1)
        return RevealOutcome(bad, False, "BAD_REVEAL", detail)
    reveals = dict(state.reveals)
    reveals[offer_id] = (offer, bytes(salt))
    return RevealOutcome(replace(state, reveals=reveals), True)


def reveal_many(
    state: AuctionState, reveals: Sequence[Reveal], *, address_of: AddressOf = lender_address
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """Apply ``reveals`` in order, by the rules of :func:`reveal`, copying the state once: the
    final state and ``(accepted, reason, detail)`` per reveal (the same as calling
    :func:`reveal` for each in turn)."""
    _need(state, "OPEN", "CLOSED", action="reveal in")
    if not reveals:
        return state, ()
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals, address_of)
    return replace(state, reveals=opened, bad_reveals=state.bad_reveals + bad), outcomes


def _apply_reveals(
    state: AuctionState,
    opened: dict[str, tuple[OfferRecord, bytes]],
    reveals: Sequence[Reveal],
    address_of: AddressOf,
) -> tuple[int, tuple[tuple[bool, str | None, str | None], ...]]:
    """Apply ``reveals`` in order to ``state`` by :func:`reveal`'s rule, adding the accepted
    ones to ``opened`` (a copy of ``state.reveals``): (bad reveals, outcomes)."""
    bad = 0
    outcomes = []
    for r in reveals:
        detail, offer = _reveal_rule(state, opened, r, _time(state, r.t, "reveal"), address_of)
        if offer is None:
            bad += 1
            outcomes.append((False, "BAD_REVEAL", detail))
        else:
            opened[r.offer_id] = (offer, bytes(r.salt))
            outcomes.append(_ACCEPTED)
    return bad, tuple(outcomes)


def close(state: AuctionState, t: int | float) -> AuctionState:
    """End the reveal window and fix the clearing input (phase CLOSED)."""
    _need(state, "OPEN", action="close")
    return replace(state, phase="CLOSED", offers=_closing_offers(state, state.reveals, t))


def _closing_offers(
    state: AuctionState, reveals: Mapping[str, tuple[OfferRecord, bytes]], t: int | float
) -> tuple[OfferRecord, ...]:
    """The close rule for an OPEN ``state`` whose reveals are ``reveals``: the clearing input
    in commit order, or ``FieldError`` when the reveal window may not end at ``t``."""
    t = _time(state, t, "close")
    commits = state.commits
    deadline = reveal_deadline(state)
    if t < state.close_at or (t < deadline and len(reveals) != len(commits)):
        raise FieldError(
            "t",
            t,
            f"must be >= the reveal deadline {deadline} of auction {state.request.auction_id}, "
            f"or >= its close_at={state.close_at} once every commit is revealed "
            f"({len(reveals)} of {len(commits)} are)",
        )
    get = reveals.get
    out = []
    for c in commits:
        got = get(c.offer_id)
        out.append(
            got[0]
            if got is not None
            else OfferRecord(
                offer_id=c.offer_id,
                lender=c.lender,
                amount_cents=0,
                rate_bps=0,
                committed_at=c.committed_at,
                revealed=False,
            )
        )
    return tuple(out)


def _default_clearing(
    request: AuctionRequest, offers: Sequence[OfferRecord], rules: AuctionRules
) -> ClearingResult:
    if len(offers) > _NUMPY_FROM:
        return clear_numpy(request, offers, rules)
    return clear_reference(request, offers, rules)


def _phase_after(result: ClearingResult) -> str:
    return "UNFILLED" if result.status == "UNFILLED" else "CLEARED"


def clear(state: AuctionState, clearing: ClearingFn | None = None) -> AuctionState:
    """Clear the closed auction; phase CLEARED or UNFILLED.  ``clearing`` defaults to the
    reference for small auctions and the numpy path for large ones (same results)."""
    _need(state, "CLOSED", action="clear")
    result = (clearing or _default_clearing)(state.request, state.offers, state.rules)
    return replace(state, phase=_phase_after(result), result=result)


def reveal_and_clear(
    state: AuctionState,
    reveals: Sequence[Reveal],
    t: int | float,
    clearing: ClearingFn | None = None,
    *,
    address_of: AddressOf = lender_address,
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """``reveal_many(state, reveals)``, then ``close(·, t)``, then ``clear(·, clearing)`` in
    one step: the same rules, outcomes and final state (phase CLEARED or UNFILLED), building
    one state instead of three.  ``state`` must be OPEN; a ``ValueError`` wherever one of the
    three calls would raise one."""
    _need(state, "OPEN", action="close")
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals, address_of)
    offers = _closing_offers(state, opened, t)
    result = (clearing or _default_clearing)(state.request, offers, state.rules)
    new = replace(
        state,
        phase=_phase_after(result),
        reveals=opened if outcomes else state.reveals,
        bad_reveals=state.bad_reveals + bad,
        offers=offers,
        result=result,
    )
    return new, outcomes


def confirm(
    state: AuctionState, free_balances: Mapping[str, int], clearing: ClearingFn | None = None
) -> ConfirmOutcome:
    """LoanConfirmed: debit winners, dropping those without free balance and re-clearing."""
    _need(state, "CLEARED", action="confirm")
    clearing = clearing or _default_clearing
    result = state.result
    assert result is not None
    dropped: list[str] = []
    offers = list(state.offers)
    while True:
        drop: set[str] = set()
        used: dict[str, int] = {}  # lender -> cents of the allocations kept so far
        for a in result.allocations:  # clearing order: keep the cheapest that fit
            lender = a.lender
            need = used.get(lender, 0) + a.amount_cents
            if need <= free_balances.get(lender, 0):
                used[lender] = need
            else:
                drop.add(a.offer_id)
        if not drop:
            break
        dropped.extend(o.offer_id for o in offers if o.offer_id in drop)
        offers = [o for o in offers if o.offer_id not in drop]
        result = clearing(state.request, offers, state.rules)
        if result.status == "UNFILLED":
            break
    if dropped:
        gone = set(dropped)
        reasons = {e.offer_id: e.reason for e in result.excluded}
        excluded = tuple(
            Exclusion(
                o.offer_id, "INSUFFICIENT_FUNDS" if o.offer_id in gone else reasons[o.offer_id]
            )
            for o in state.offers
            if o.offer_id in gone or o.offer_id in reasons
        )
        result = replace(result, excluded=excluded)
    if result.status == "UNFILLED":
        phase, debits = "UNFILLED", {}
    else:  # the loop ended with nothing to drop: ``used`` sums every allocation by lender
        phase, debits = "CONFIRMED", used
    new = replace(state, phase=phase, result=result, dropped=tuple(dropped), debits=debits)
    return ConfirmOutcome(state=new, debits=dict(debits), dropped=new.dropped)


def settlement_payload(state: AuctionState) -> dict[str, Any]:
    """The ``settle_auction`` mapping for the chain sink (all keys but ``escrow_cents_after``).

    Offers are in commit order with their ``commitment`` (0x hex); an unrevealed offer has
    amount and rate 0 and an all-zero salt.
    """
    if state.result is None:
        raise FieldError(
            "result", None, f"must be set: auction {state.request.auction_id} is not cleared yet"
        )
    r = state.request
    offers = []
    for c in state.commits:
        offer, salt = state.reveals.get(c.offer_id, (None, _ZERO_SALT))
        offers.append(
            {
                "offer_id": c.offer_id,
                "lender": c.lender,
                "amount_cents": offer.amount_cents if offer else 0,
                "rate_bps": offer.rate_bps if offer else 0,
                "salt": "0x" + salt.hex(),
                "committed_at": c.committed_at,
                "revealed": offer is not None,
                "commitment": "0x" + c.commitment.hex(),
            }
        )
    return {
        "auction_id": r.auction_id,
        "borrower": r.borrower,
        "amount_cents": r.amount_cents,
        "max_rate_bps": r.max_rate_bps,
        "term_months": r.term_months,
        "fee_bps": state.rules.platform_fee_bps,
        "offers": offers,
        "result": state.result.to_dict(),
    }
