"""``ce auction clear FILE``: clear one reverse auction described by a JSON file.

Prints the clearing result as one line of JSON on stdout (keys in the spec's order:
status, clearing_rate_bps, paid_rate, filled_cents, fee_cents, allocations, excluded).
Malformed input exits with status 2 and one line on stderr naming the field, the value and the
rule.  The input format is documented in :mod:`market.auction.json_codec`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from sim.cli._args import add_actions
from sim.cli._errors import CliError

#: the widest ``--indent``: the output grows by the indent times its nesting on every line
MAX_INDENT = 16


def register(sub: argparse._SubParsersAction) -> None:
    actions = add_actions(
        sub,
        "auction",
        help="reverse-auction tools (clear)",
        description="Reverse uniform-price auction tools for loan funding.",
    )
    c = actions.add_parser(
        "clear",
        help="clear one auction from a JSON file and print the result as JSON",
        description="Clear one auction: read {request, offers, rules} from FILE (JSON), apply "
        "eligibility, the marginal rate r*, pro-rata cents at r* and the pricing rule, and print "
        "the result as one line of JSON. Exit status 2 on malformed input.",
    )
    c.add_argument("file", metavar="FILE", help="input JSON file, or - for standard input")
    c.add_argument(
        "--engine",
        choices=("numpy", "reference"),
        default="numpy",
        help="clearing implementation: vectorised numpy (default) or the pure-Python "
        "reference; both give identical output",
    )
    c.add_argument(
        "--indent",
        default=None,
        metavar="N",
        help=f"pretty-print with N spaces of indentation, 0..{MAX_INDENT} (default: one line)",
    )
    c.set_defaults(func=_clear)


def _read(path: str) -> str:
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # already text (e.g. replaced by a StringIO)
            return sys.stdin.read()
        try:
            return stream.read().decode("utf-8")
        except UnicodeDecodeError as err:
            raise CliError(f"FILE='-': not UTF-8 text ({err.reason})") from None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise CliError(f"FILE={path!r}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"FILE={path!r}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError as err:
        raise CliError(f"FILE={path!r}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise CliError(f"FILE={path!r}: cannot be read ({err.strerror})") from None


def _indent(text: str | None) -> int | None:
    """``--indent``'s value as an int in 0..MAX_INDENT (``None``: one line)."""
    if text is None:
        return None
    if re.fullmatch(r"[0-9]{1,3}", text) and int(text) <= MAX_INDENT:
        return int(text)
    shown = text if re.fullmatch(r"[-+0-9A-Za-z_.]{1,40}", text) else json.dumps(text[:40])
    raise CliError(f"--indent={shown}: must be an integer in 0..{MAX_INDENT}")


def _clear(args: argparse.Namespace) -> int:
    from market.auction.json_codec import AuctionInputError, loads, parse_clear_input

    indent = _indent(args.indent)
    text = _read(args.file)
    try:
        doc = loads(text)
    except json.JSONDecodeError as err:
        raise CliError(
            f"FILE={args.file!r}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise CliError(
            f"FILE={args.file!r}: not valid JSON: nested too deeply for the decoder "
            f"(arrays/objects over ~{sys.getrecursionlimit()} levels)"
        ) from None
    try:
        parsed = parse_clear_input(doc)
    except AuctionInputError as err:
        raise CliError(str(err)) from None
    if args.engine == "numpy":
        from market.auction.clearing import clear
    else:
        from market.auction.clearing_reference import clear_reference as clear
    result = clear(parsed.request, parsed.offers, parsed.rules)
    print(json.dumps(result.to_dict(), indent=indent))
    return 0
