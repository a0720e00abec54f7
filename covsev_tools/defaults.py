"""The statistical defaults every stage shares: bootstrap resamples and confidence level.

One place, with no imports, so that the agreement functions, the validation sections, the report
and the command line (whose ``--help`` must start fast) state the same defaults.
"""
from __future__ import annotations

#: Bootstrap resamples of every interval unless asked otherwise: the agreement functions, the
#: validation sections, ``covsev agreement``, ``equivalence``, ``report`` and ``demo`` share it.
#: 2,000 rather than 1,000: a 95% percentile interval rests on the most extreme 2.5% of resamples
#: of each tail, 50 of them at 2,000 rather than 25 at 1,000, so its bounds vary less from seed to
#: seed (Efron & Tibshirani 1993, ch. 19; Carpenter & Bithell 2000 ask for 1,000-2,000 for
#: percentile intervals).
DEFAULT_N_BOOT = 2000

#: Confidence level of every interval unless asked otherwise.
DEFAULT_CONFIDENCE = 0.95
