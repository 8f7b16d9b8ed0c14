"""Commit–reveal auction lifecycle as pure transitions over :class:`AuctionState` records.

Functions (each returns a new state and never changes the one it is given, nor its tuples and
dicts; states are plain slotted records, like every record the lifecycle builds):

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
returns ``(accepted, reason, extended)`` and ``.state()`` the resulting state — and
:func:`reveal_many` ``(state, reveals) -> (state, outcomes)`` applies a run of
:class:`Reveal` records; :func:`reveal_and_clear` ``(state, reveals, t, clearing=None) ->
(state, outcomes)`` is ``reveal_many`` + ``close`` + ``clear`` in one step.  The reveal
functions take ``commitment_of`` (default :func:`~market.auction.commitment.offer_commitment`):
the function whose answer a reveal must match; a caller that keeps the commitments it made
(the simulation keeps each auction's) passes its own lookup.

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
built by keyword.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from market.auction.clearing import clear as clear_numpy
from market.auction.clearing_reference import clear_reference
from market.auction.commitment import offer_commitment
from market.auction.types import (
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    OfferLike,
    OfferRecord,
)
from market.validation import SECONDS, TEXT, Bytes, FieldError

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

ClearingFn = Callable[[AuctionRequest, Sequence[OfferLike], AuctionRules], ClearingResult]
#: ``(auction_id, lender, amount_cents, rate_bps, salt) -> commitment``, as
#: :func:`~market.auction.commitment.offer_commitment`
CommitmentFn = Callable[[int, str, int, int, bytes], bytes]
#: auctions with more offers than this are cleared by the numpy path by default
_NUMPY_FROM = 1000
_ZERO_SALT = bytes(32)
_INT64_END = 2**63
_COMMITMENT = Bytes(32)
_ACCEPTED = (True, None, None)


@dataclass(slots=True)
class Commit:
    """An accepted sealed offer: ``commitment`` is the 32-byte hash, ``committed_at`` in s.
    A record of checked values, never changed once in a state (like the state's dicts)."""

    offer_id: str
    lender: str
    commitment: bytes
    committed_at: int | float


@dataclass(slots=True, kw_only=True)
class Reveal:
    """One reveal handed to :func:`reveal_many` / :func:`reveal_and_clear`: the committed
    ``amount_cents``, ``rate_bps`` and ``salt`` of offer ``offer_id``, revealed at time ``t``."""

    offer_id: str
    amount_cents: int
    rate_bps: int
    salt: bytes
    t: int | float


@dataclass(slots=True)
class AuctionState:
    """One auction's state.  Never changed once built, dict fields included: each transition
    builds a new state by keyword and copies what it changes."""

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


@dataclass(slots=True)
class CommitOutcome:
    state: AuctionState
    accepted: bool
    reason: str | None = None
    extended: bool = False


@dataclass(slots=True)
class RevealOutcome:
    state: AuctionState
    accepted: bool
    reason: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class ConfirmOutcome:
    state: AuctionState
    debits: Mapping[str, int]
    dropped: tuple[str, ...]


def _next_state(state: AuctionState, **changes: Any) -> AuctionState:
    """``dataclasses.replace(state, **changes)`` for :class:`AuctionState`, written out by
    keyword: every field named once here instead of the generic walk over the dataclass's
    fields (a state is rebuilt several times per auction; see docs/decisions.md)."""
    fields = {
        "request": state.request,
        "rules": state.rules,
        "phase": state.phase,
        "close_at": state.close_at,
        "extensions": state.extensions,
        "commits": state.commits,
        "commit_index": state.commit_index,
        "lenders": state.lenders,
        "reveals": state.reveals,
        "bad_reveals": state.bad_reveals,
        "offers": state.offers,
        "result": state.result,
        "dropped": state.dropped,
        "debits": state.debits,
    }
    fields.update(changes)
    return AuctionState(**fields)


def _need(state: AuctionState, *phases: str, action: str) -> None:
    if state.phase not in phases:
        raise FieldError(
            "phase",
            state.phase,
            f"must be {' or '.join(phases)} to {action} auction {state.request.auction_id}",
        )


def _time(state: AuctionState, t: int | float, action: str) -> int | float:
    t = SECONDS.check("t", t)
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


def commit(
    state: AuctionState, *, offer_id: str, lender: str, commitment: bytes, t: int | float
) -> CommitOutcome:
    """Accept or reject a sealed offer at time ``t`` (see the module docstring): a
    :class:`CommitBatch` of one commit."""
    batch = CommitBatch(state)
    accepted, reason, extended = batch.commit(
        offer_id=offer_id, lender=lender, commitment=commitment, t=t
    )
    return CommitOutcome(batch.state(), accepted, reason, extended)


class CommitBatch:
    """A run of commits applied to an OPEN ``state`` in O(1) each; :func:`commit` is a batch
    of one.  The commit's arguments are checked here, where they enter ``market/``.

    ``.commit(offer_id=, lender=, commitment=, t=)`` returns ``(accepted, reason, extended)``;
    ``.close_at`` / ``.extensions`` follow the accepted commits; ``.state()`` is the
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
        """Apply one commit: ``(accepted, reason, extended)``.  Rejections, in order:
        ``CLOSED``, ``DUPLICATE_OFFER_ID``, ``MAX_OFFERS``, ``COOLDOWN``."""
        base = self._base
        rules = base.rules
        t = _time(base, t, "commit")
        offer_id = TEXT.check("offer_id", offer_id)
        lender = TEXT.check("lender", lender)
        commitment = _COMMITMENT.check("commitment", commitment)
        close_at = self._close_at
        if t >= close_at:
            return False, "CLOSED", False
        if offer_id in self._index:
            return False, "DUPLICATE_OFFER_ID", False
        count, last = self._lenders.get(lender, (0, None))
        if count >= rules.max_offers_per_lender:
            return False, "MAX_OFFERS", False
        if last is not None and t - last < rules.cooldown_s:
            return False, "COOLDOWN", False
        extended = close_at - t < rules.snipe_window_s and self._extensions < rules.max_extensions
        self._lenders[lender] = (count + 1, t)
        self._index[offer_id] = len(self._commits)
        self._commits.append(
            Commit(offer_id=offer_id, lender=lender, commitment=commitment, committed_at=t)
        )
        if extended:
            self._close_at = close_at + rules.snipe_extension_s
            self._extensions += 1
        return True, None, extended

    def state(self) -> AuctionState:
        """The state after the commits so far (a new one; the batch may go on)."""
        base = self._base
        if len(self._commits) == len(base.commits):
            return base
        return _next_state(
            base,
            close_at=self._close_at,
            extensions=self._extensions,
            commits=tuple(self._commits),
            commit_index=dict(self._index),
            lenders=dict(self._lenders),
        )


def reveal(
    state: AuctionState,
    *,
    offer_id: str,
    amount_cents: int,
    rate_bps: int,
    salt: bytes,
    t: int | float,
    commitment_of: CommitmentFn = offer_commitment,
) -> RevealOutcome:
    """Open a sealed offer at time ``t`` (see the module docstring): :func:`reveal_many` of
    one reveal."""
    r = Reveal(offer_id=offer_id, amount_cents=amount_cents, rate_bps=rate_bps, salt=salt, t=t)
    new, ((accepted, reason, detail),) = reveal_many(state, [r], commitment_of=commitment_of)
    return RevealOutcome(new, accepted, reason, detail)


def reveal_many(
    state: AuctionState,
    reveals: Sequence[Reveal],
    *,
    commitment_of: CommitmentFn = offer_commitment,
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """Apply ``reveals`` in order, copying the state once: the final state and
    ``(accepted, reason, detail)`` per reveal (:func:`reveal` is a run of one)."""
    _need(state, "OPEN", "CLOSED", action="reveal in")
    if not reveals:
        return state, ()
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals, commitment_of)
    return _next_state(state, reveals=opened, bad_reveals=state.bad_reveals + bad), outcomes


def _apply_reveals(
    state: AuctionState,
    opened: dict[str, tuple[OfferRecord, bytes]],
    reveals: Sequence[Reveal],
    commitment_of: CommitmentFn,
) -> tuple[int, tuple[tuple[bool, str | None, str | None], ...]]:
    """The reveal rule, applied to ``reveals`` in order against ``state``'s commits, adding
    the accepted ones to ``opened`` (a copy of ``state.reveals``): (bad reveals, outcomes).

    A reveal is accepted in the window when it names a commit not yet revealed, is well
    formed (int64 amount > 0 and rate, a 32-byte salt) and matches the commitment; otherwise
    its detail is the first of ``unknown_offer``, ``already_revealed``, ``early``, ``late``,
    ``invalid``, ``mismatch`` that applies (an amount of 0 that matches is ``invalid``)."""
    aid = state.request.auction_id
    index, commits = state.commit_index, state.commits
    start, end = state.close_at, reveal_deadline(state)
    in_phase = state.phase == "OPEN"
    bad = 0
    outcomes = []
    for r in reveals:
        t = _time(state, r.t, "reveal")
        offer_id, amount, rate, salt = r.offer_id, r.amount_cents, r.rate_bps, r.salt
        pos = index.get(offer_id)
        detail = None
        if pos is None:
            detail = "unknown_offer"
        elif offer_id in opened:
            detail = "already_revealed"
        elif t < start:
            detail = "early"
        elif not in_phase or t >= end:
            detail = "late"
        elif not (
            type(amount) is int
            and 0 <= amount < _INT64_END  # int64, as the numpy clearing stores it
            and type(rate) is int
            and 0 <= rate < _INT64_END
            and isinstance(salt, bytes)
            and len(salt) == 32
        ):
            detail = "invalid"
        else:
            c = commits[pos]
            if commitment_of(aid, c.lender, amount, rate, salt) != c.commitment:
                detail = "mismatch"
            elif amount == 0:
                detail = "invalid"
            else:  # every field is checked by now (commit: ids and time; here: the rest)
                offer = OfferRecord(
                    offer_id=offer_id,
                    lender=c.lender,
                    amount_cents=amount,
                    rate_bps=rate,
                    committed_at=c.committed_at,
                    revealed=True,
                )
                opened[offer_id] = (offer, bytes(salt))
                outcomes.append(_ACCEPTED)
                continue
        bad += 1
        outcomes.append((False, "BAD_REVEAL", detail))
    return bad, tuple(outcomes)


def close(state: AuctionState, t: int | float) -> AuctionState:
    """End the reveal window and fix the clearing input (phase CLOSED)."""
    _need(state, "OPEN", action="close")
    return _next_state(state, phase="CLOSED", offers=_closing_offers(state, state.reveals, t))


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
    request: AuctionRequest, offers: Sequence[OfferLike], rules: AuctionRules
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
    return _next_state(state, phase=_phase_after(result), result=result)


def reveal_and_clear(
    state: AuctionState,
    reveals: Sequence[Reveal],
    t: int | float,
    clearing: ClearingFn | None = None,
    *,
    commitment_of: CommitmentFn = offer_commitment,
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """``reveal_many(state, reveals)``, then ``close(·, t)``, then ``clear(·, clearing)`` in
    one step: the same rules, outcomes and final state (phase CLEARED or UNFILLED), building
    one state instead of three.  ``state`` must be OPEN; a ``ValueError`` wherever one of the
    three calls would raise one."""
    _need(state, "OPEN", action="close")
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals, commitment_of)
    offers = _closing_offers(state, opened, t)
    result = (clearing or _default_clearing)(state.request, offers, state.rules)
    new = _next_state(
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
    new = _next_state(state, phase=phase, result=result, dropped=tuple(dropped), debits=debits)
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
