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
:func:`reveal_many` ``(state, reveals) -> (state, outcomes)`` applies a run of reveals;
:func:`reveal_and_clear` ``(state, reveals, t, clearing=None) -> (state, outcomes)`` is
``reveal_many`` + ``close`` + ``clear`` in one step.

Helpers: :func:`reveal_deadline`, :func:`stage`, :func:`settlement_payload` (the
``settle_auction`` mapping for the chain sink, without ``escrow_cents_after``).

Calling a function in the wrong phase (or with time before ``opened_at``) is a programmer error
and raises ``ValueError``.  Cost: :func:`commit` and :func:`reveal` copy the state's tuples and
dicts, i.e. O(commits) per call (about a microsecond for the 10–50 commits of a real auction);
the batch forms copy once per batch, so a run of n commits or reveals costs O(n) in all.
:class:`CommitBatch` and :func:`reveal_many` accept the common case (a commit in time with a
new id and a lender within limits; a fresh, well-formed, matching reveal in the window) inline
and send everything else through the full rule.  States and :class:`Commit` records are built
from already-checked values without the frozen ``__init__``
(:func:`~market.auction.types.unchecked_constructor`); they equal the checked ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from market.auction.clearing_reference import clear_reference
from market.auction.commitment import offer_commitment
from market.auction.types import (
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    Offer,
    check_str,
    check_time,
    offer_unchecked,
    unchecked_constructor,
)

__all__ = [
    "AuctionState",
    "Commit",
    "CommitBatch",
    "CommitOutcome",
    "ConfirmOutcome",
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

ClearingFn = Callable[[AuctionRequest, Sequence[Offer], AuctionRules], ClearingResult]
#: auctions with more offers than this are cleared by the numpy path by default
_NUMPY_FROM = 1000
_ZERO_SALT = bytes(32)
_MAX_TIME = float(2**53)
_INT64_END = 2**63
_ACCEPTED = (True, None, None)
#: CommitBatch.commit's answers for an accepted commit (shared tuples)
_ACCEPTED_KEPT = (True, None, False)
_ACCEPTED_EXTENDED = (True, None, True)


@dataclass(frozen=True, slots=True)
class Commit:
    """An accepted sealed offer: ``commitment`` is the 32-byte hash, ``committed_at`` in s."""

    offer_id: str
    lender: str
    commitment: bytes
    committed_at: int | float


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
    reveals: Mapping[str, tuple[Offer, bytes]] = field(default_factory=dict)
    bad_reveals: int = 0
    #: the clearing input, in commit order (set by :func:`close`)
    offers: tuple[Offer, ...] = ()
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


_STATE_FIELDS = tuple(f.name for f in fields(AuctionState))
_confirm_outcome = unchecked_constructor(ConfirmOutcome, "ConfirmOutcome(...), no checks.")
#: ``AuctionState(...)`` with every field given, without the frozen ``__init__`` (the
#: transitions build states from values they have checked): equal to it, ~2.7x cheaper
_state = unchecked_constructor(AuctionState, "AuctionState(...) from all 14 fields, no checks.")
#: ``Commit(...)`` from a commit the rules accepted (ids, commitment and time checked)
_commit_record = unchecked_constructor(Commit, "Commit(...) from checked values.")


def _evolve(state: AuctionState, **changes: Any) -> AuctionState:
    """``dataclasses.replace`` for :class:`AuctionState` (no ``__post_init__``), ~3x cheaper."""
    return _state(*[changes.get(n, getattr(state, n)) for n in _STATE_FIELDS])


def _need(state: AuctionState, *phases: str, action: str) -> None:
    if state.phase not in phases:
        raise ValueError(
            f"cannot {action} auction {state.request.auction_id} in phase {state.phase}; "
            f"allowed in {', '.join(phases)}"
        )


def _time(state: AuctionState, t: int | float, action: str) -> int | float:
    t = check_time("t", t)
    if t < state.request.opened_at:
        raise ValueError(
            f"cannot {action} at t={t}: before auction {state.request.auction_id} opened "
            f"at {state.request.opened_at}"
        )
    return t


def open_auction(request: AuctionRequest, rules: AuctionRules | None = None) -> AuctionState:
    """A new auction in phase OPEN with ``close_at = opened_at + ttl_s``."""
    rules = rules if rules is not None else AuctionRules()
    close_at = request.opened_at + rules.ttl_s
    return _state(request, rules, "OPEN", close_at, 0, (), {}, {}, {}, 0, (), None, (), {})


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


def _commit_args(state: AuctionState, offer_id: str, lender: str, commitment: bytes, t) -> Any:
    t = _time(state, t, "commit")
    check_str("offer_id", offer_id)
    check_str("lender", lender)
    if not isinstance(commitment, bytes) or len(commitment) != 32:
        raise ValueError(f"commitment={commitment!r}: must be 32 bytes")
    return t


def _commit_rule(
    rules: AuctionRules,
    close_at: int | float,
    extensions: int,
    commit_index: Mapping[str, int],
    lenders: Mapping[str, tuple[int, int | float]],
    offer_id: str,
    lender: str,
    t: int | float,
) -> tuple[str | None, int, bool]:
    """The commit rule: (rejection reason or None, lender's accepted count, extends close)."""
    if t >= close_at:
        return "CLOSED", 0, False
    if offer_id in commit_index:
        return "DUPLICATE_OFFER_ID", 0, False
    count, last = lenders.get(lender, (0, None))
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
    t = _commit_args(state, offer_id, lender, commitment, t)
    rules = state.rules
    close_at, extensions = state.close_at, state.extensions
    reason, count, extended = _commit_rule(
        rules, close_at, extensions, state.commit_index, state.lenders, offer_id, lender, t
    )
    if reason is not None:
        return CommitOutcome(state, False, reason)
    if extended:
        close_at += rules.snipe_extension_s
        extensions += 1
    lenders = dict(state.lenders)
    lenders[lender] = (count + 1, t)
    index = dict(state.commit_index)
    index[offer_id] = len(state.commits)
    new = _state(
        state.request,
        rules,
        "OPEN",
        close_at,
        extensions,
        (*state.commits, _commit_record(offer_id, lender, commitment, t)),
        index,
        lenders,
        state.reveals,
        state.bad_reveals,
        (),
        None,
        (),
        {},
    )
    return CommitOutcome(new, True, None, extended)


class CommitBatch:
    """A run of commits applied to an OPEN ``state`` in O(1) each, by the rules of
    :func:`commit` (same validation, same outcomes, same resulting state).

    ``.commit(offer_id=, lender=, commitment=, t=)`` returns ``(accepted, reason, extended)``;
    ``.close_at`` / ``.extensions`` follow the accepted commits; ``.state()`` is the frozen
    :class:`AuctionState` after them (the batch may go on afterwards).
    """

    __slots__ = (
        "_base",
        "_close_at",
        "_commits",
        "_cooldown",
        "_extensions",
        "_index",
        "_lenders",
        "_max_extensions",
        "_max_offers",
        "_opened_at",
        "_snipe_window",
    )

    def __init__(self, state: AuctionState) -> None:
        _need(state, "OPEN", action="commit to")
        self._base = state
        self._close_at = state.close_at
        self._extensions = state.extensions
        self._commits = list(state.commits)
        self._index = dict(state.commit_index)
        self._lenders = dict(state.lenders)
        rules = state.rules
        self._opened_at = state.request.opened_at
        self._max_offers = rules.max_offers_per_lender
        self._cooldown = rules.cooldown_s
        self._snipe_window = rules.snipe_window_s
        self._max_extensions = rules.max_extensions

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
        if not (
            type(t) is float
            and self._opened_at <= t <= _MAX_TIME
            and type(offer_id) is str
            and offer_id
            and type(lender) is str
            and lender
            and type(commitment) is bytes
            and len(commitment) == 32
        ):  # the common case passes these; anything else gets the full checks and messages
            t = _commit_args(self._base, offer_id, lender, commitment, t)
        close_at, index, lenders = self._close_at, self._index, self._lenders
        entry = lenders.get(lender)
        if (  # the common case: accepted (a new offer id in time, the lender within limits)
            t < close_at
            and offer_id not in index
            and (entry is None or (entry[0] < self._max_offers and t - entry[1] >= self._cooldown))
        ):
            count = 0 if entry is None else entry[0]
            extended = close_at - t < self._snipe_window and self._extensions < self._max_extensions
        else:  # the rule itself decides (and names the rejection)
            reason, count, extended = _commit_rule(
                self._base.rules, close_at, self._extensions, index, lenders, offer_id, lender, t
            )
            if reason is not None:
                return False, reason, False
        lenders[lender] = (count + 1, t)
        commits = self._commits
        index[offer_id] = len(commits)
        commits.append(_commit_record(offer_id, lender, commitment, t))
        if extended:
            self._close_at = close_at + self._base.rules.snipe_extension_s
            self._extensions += 1
            return _ACCEPTED_EXTENDED
        return _ACCEPTED_KEPT

    def state(self) -> AuctionState:
        """The frozen state after the commits so far."""
        base = self._base
        if len(self._commits) == len(base.commits):
            return base
        return _state(
            base.request,
            base.rules,
            "OPEN",
            self._close_at,
            self._extensions,
            tuple(self._commits),
            dict(self._index),
            dict(self._lenders),
            base.reveals,
            base.bad_reveals,
            (),
            None,
            (),
            {},
        )


def _reveal_rule(
    state: AuctionState,
    reveals: Mapping[str, tuple[Offer, bytes]],
    offer_id: str,
    amount_cents: int,
    rate_bps: int,
    salt: bytes,
    t: int | float,
) -> tuple[str | None, Offer | None]:
    """The reveal rule against ``state``'s commits and the ``reveals`` so far: (BAD_REVEAL
    detail, None) or (None, the revealed offer)."""
    pos = state.commit_index.get(offer_id)
    if pos is None:
        return "unknown_offer", None
    if offer_id in reveals:
        return "already_revealed", None
    if t < state.close_at:
        return "early", None
    if state.phase != "OPEN" or t >= state.close_at + state.rules.reveal_window_s:
        return "late", None
    if not (
        type(amount_cents) is int
        and 0 <= amount_cents < 2**63  # int64, as the numpy clearing stores it
        and type(rate_bps) is int
        and 0 <= rate_bps < 2**63
        and isinstance(salt, bytes)
        and len(salt) == 32
    ):
        return "invalid", None
    c = state.commits[pos]
    if offer_commitment(state.request.auction_id, c.lender, amount_cents, rate_bps, salt) != (
        c.commitment
    ):
        return "mismatch", None
    if amount_cents == 0:
        return "invalid", None
    # every field is checked by now (commit: ids and time; above: amount, rate)
    return None, offer_unchecked(offer_id, c.lender, amount_cents, rate_bps, c.committed_at, True)


def _with_reveals(
    state: AuctionState, reveals: Mapping[str, tuple[Offer, bytes]], bad_reveals: int
) -> AuctionState:
    return _state(
        state.request,
        state.rules,
        state.phase,
        state.close_at,
        state.extensions,
        state.commits,
        state.commit_index,
        state.lenders,
        reveals,
        bad_reveals,
        state.offers,
        state.result,
        state.dropped,
        state.debits,
    )


def reveal(
    state: AuctionState,
    *,
    offer_id: str,
    amount_cents: int,
    rate_bps: int,
    salt: bytes,
    t: int | float,
) -> RevealOutcome:
    """Open a sealed offer at time ``t`` (see the module docstring)."""
    _need(state, "OPEN", "CLOSED", action="reveal in")
    t = _time(state, t, "reveal")
    detail, offer = _reveal_rule(state, state.reveals, offer_id, amount_cents, rate_bps, salt, t)
    if offer is None:
        bad = _with_reveals(state, state.reveals, state.bad_reveals + 1)
        return RevealOutcome(bad, False, "BAD_REVEAL", detail)
    reveals = dict(state.reveals)
    reveals[offer_id] = (offer, bytes(salt))
    return RevealOutcome(_with_reveals(state, reveals, state.bad_reveals), True)


def reveal_many(
    state: AuctionState,
    reveals: Sequence[tuple[str, int, int, bytes, int | float]],
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """Apply ``(offer_id, amount_cents, rate_bps, salt, t)`` reveals in order, by the rules of
    :func:`reveal`, copying the state once: the final state and ``(accepted, reason, detail)``
    per reveal (the same as calling :func:`reveal` for each in turn)."""
    _need(state, "OPEN", "CLOSED", action="reveal in")
    if not reveals:
        return state, ()
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals)
    return _with_reveals(state, opened, state.bad_reveals + bad), tuple(outcomes)


def _apply_reveals(
    state: AuctionState,
    opened: dict[str, tuple[Offer, bytes]],
    reveals: Sequence[tuple[str, int, int, bytes, int | float]],
) -> tuple[int, list[tuple[bool, str | None, str | None]]]:
    """Apply ``reveals`` in order to ``state`` by :func:`reveal`'s rule, adding the accepted
    ones to ``opened`` (a copy of ``state.reveals``): (bad reveals, outcomes)."""
    bad = 0
    outcomes = []
    opened_at = state.request.opened_at
    aid = state.request.auction_id
    index, commits = state.commit_index, state.commits
    start, end = state.close_at, reveal_deadline(state)
    if state.phase != "OPEN":
        start = end = 0.0  # no fast path: every reveal is late
    if opened_at > start:
        start = opened_at  # (a hand-built state) the fast path needs t >= opened_at too
    if end > _MAX_TIME:
        end = _MAX_TIME  # and t <= 2**53
    for offer_id, amount_cents, rate_bps, salt, t in reveals:
        pos = index.get(offer_id)
        if (  # the common case: a fresh, well-formed reveal in the window that matches
            type(t) is float
            and start <= t < end
            and pos is not None
            and offer_id not in opened
            and type(amount_cents) is int
            and 0 < amount_cents < _INT64_END
            and type(rate_bps) is int
            and 0 <= rate_bps < _INT64_END
            and type(salt) is bytes
            and len(salt) == 32
        ):
            c = commits[pos]
            lender = c.lender
            if offer_commitment(aid, lender, amount_cents, rate_bps, salt) == c.commitment:
                opened[offer_id] = (
                    offer_unchecked(offer_id, lender, amount_cents, rate_bps, c.committed_at, True),
                    salt,
                )
                outcomes.append(_ACCEPTED)
                continue
        # anything else: the full rule decides (and names the BAD_REVEAL detail)
        if not (type(t) is float and opened_at <= t <= _MAX_TIME):
            t = _time(state, t, "reveal")
        detail, offer = _reveal_rule(state, opened, offer_id, amount_cents, rate_bps, salt, t)
        if offer is None:
            bad += 1
            outcomes.append((False, "BAD_REVEAL", detail))
        else:
            opened[offer_id] = (offer, bytes(salt))
            outcomes.append(_ACCEPTED)
    return bad, outcomes


def close(state: AuctionState, t: int | float) -> AuctionState:
    """End the reveal window and fix the clearing input (phase CLOSED)."""
    _need(state, "OPEN", action="close")
    offers = _closing_offers(state, state.reveals, t)
    return _evolve(state, phase="CLOSED", offers=offers)


def _closing_offers(
    state: AuctionState, reveals: Mapping[str, tuple[Offer, bytes]], t: int | float
) -> tuple[Offer, ...]:
    """The close rule for an OPEN ``state`` whose reveals are ``reveals``: the clearing input
    in commit order, or ``ValueError`` when the reveal window may not end at ``t``."""
    t = _time(state, t, "close")
    commits = state.commits
    deadline = reveal_deadline(state)
    if t < state.close_at or (t < deadline and len(reveals) != len(commits)):
        raise ValueError(
            f"cannot close auction {state.request.auction_id} at t={t}: commits close at "
            f"{state.close_at} and reveals run until {deadline} "
            f"({len(reveals)} of {len(commits)} revealed)"
        )
    get = reveals.get
    out = []
    for c in commits:
        got = get(c.offer_id)
        out.append(
            got[0]
            if got is not None
            else offer_unchecked(c.offer_id, c.lender, 0, 0, c.committed_at, False)
        )
    return tuple(out)


def _default_clearing(
    request: AuctionRequest, offers: Sequence[Offer], rules: AuctionRules
) -> ClearingResult:
    if len(offers) > _NUMPY_FROM:
        from market.auction.clearing import clear as clear_numpy

        return clear_numpy(request, offers, rules)
    return clear_reference(request, offers, rules)


def clear(state: AuctionState, clearing: ClearingFn | None = None) -> AuctionState:
    """Clear the closed auction; phase CLEARED or UNFILLED.  ``clearing`` defaults to the
    reference for small auctions and the numpy path for large ones (same results)."""
    _need(state, "CLOSED", action="clear")
    result = (clearing or _default_clearing)(state.request, state.offers, state.rules)
    return _evolve(
        state, phase="UNFILLED" if result.status == "UNFILLED" else "CLEARED", result=result
    )


def reveal_and_clear(
    state: AuctionState,
    reveals: Sequence[tuple[str, int, int, bytes, int | float]],
    t: int | float,
    clearing: ClearingFn | None = None,
) -> tuple[AuctionState, tuple[tuple[bool, str | None, str | None], ...]]:
    """``reveal_many(state, reveals)``, then ``close(·, t)``, then ``clear(·, clearing)`` in
    one step: the same rules, outcomes and final state (phase CLEARED or UNFILLED), building
    one state instead of three.  ``state`` must be OPEN; a ``ValueError`` wherever one of the
    three calls would raise one."""
    _need(state, "OPEN", action="close")
    opened = dict(state.reveals)
    bad, outcomes = _apply_reveals(state, opened, reveals)
    offers = _closing_offers(state, opened, t)
    result = (clearing or _default_clearing)(state.request, offers, state.rules)
    new = _state(
        state.request,
        state.rules,
        "UNFILLED" if result.status == "UNFILLED" else "CLEARED",
        state.close_at,
        state.extensions,
        state.commits,
        state.commit_index,
        state.lenders,
        opened if outcomes else state.reveals,
        state.bad_reveals + bad,
        offers,
        result,
        state.dropped,
        state.debits,
    )
    return new, tuple(outcomes)


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
    gone = tuple(dropped)
    new = _state(
        state.request,
        state.rules,
        phase,
        state.close_at,
        state.extensions,
        state.commits,
        state.commit_index,
        state.lenders,
        state.reveals,
        state.bad_reveals,
        state.offers,
        result,
        gone,
        debits,
    )
    return _confirm_outcome(new, dict(debits), gone)


def settlement_payload(state: AuctionState) -> dict[str, Any]:
    """The ``settle_auction`` mapping for the chain sink (all keys but ``escrow_cents_after``).

    Offers are in commit order with their ``commitment`` (0x hex); an unrevealed offer has
    amount and rate 0 and an all-zero salt.
    """
    if state.result is None:
        raise ValueError(f"auction {state.request.auction_id} has no clearing result yet")
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
