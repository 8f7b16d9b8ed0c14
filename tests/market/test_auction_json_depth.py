"""Deep JSON nesting is refused before decoding, even under a raised recursion limit.

Run in a subprocess: a regression would crash the interpreter (the C decoder overflowing the
C stack), which must fail this test rather than the whole test session.
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from market.auction.json_codec import nesting_depth

_PROBE = """
import sys
sys.setrecursionlimit(10**6)
from market.auction.json_codec import loads
try:
    loads("[" * 200_000 + "]" * 200_000)
except RecursionError:
    print("refused")
"""


def test_deep_nesting_is_refused_under_a_raised_recursion_limit() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"interpreter died: rc={out.returncode} {out.stderr[-500:]}"
    assert out.stdout.strip() == "refused"


json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_nesting_depth_ignores_brackets_inside_strings(value: object) -> None:
    import json

    assert nesting_depth(json.dumps(value)) == _depth(value)
