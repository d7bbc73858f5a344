"""What to do about a costly part of an expression: the hints of `validate`'s JC408."""

from __future__ import annotations

from journeyctl.celcost.shapes import LIMITS

ASSUMED = (f"validate assumes event and profile lists of up to {LIMITS.entries:,.0f} entries "
           f"and strings of up to {LIMITS.chars:,.0f} characters")
LOOP_HINT = ("each entry runs the whole body, so nested loops multiply: loop over fewer entries "
             "or do not nest loops over lists")
COPY_HINT = ("map() and filter() copy their result at every entry, so their cost grows with the "
             "square of the list: loop over fewer entries, or use exists(), all() or "
             "exists_one(), which copy nothing")
REGEX_HINT = ("the pattern is compiled at each call: use smaller counts ({3} rather than {300}) "
              "and ASCII classes ([0-9], [A-Za-z0-9_]) rather than \\d, \\w or \\p{...}")
DATA_HINT = "work on less data here"
