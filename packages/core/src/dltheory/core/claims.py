"""Paper claims: declared once, measured by a reproduction, judged by a rule.

A :class:`Claim` states one headline result of a paper: what it says, the paper's value, and a
:class:`Rule` that decides whether a measurement reproduces it. A reproduction records a
:class:`Measurement` (value, uncertainty, scale, seeds, time); :func:`judge` computes the verdict:

- ``reproduced``: the rule holds for the measurement and its uncertainty;
- ``differs``: it does not (or the measurement is not a finite number);
- ``not-run``: only when the scale, data or device the claim needs is absent, with the reason.

Verdicts are never set by hand: :class:`ClaimBoard` holds the declared claims of one package and
writes ``claims.json`` from measurements alone. This module is torch-free (it is imported by
``dltheory claims`` without running anything).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltheory.core.errors import DltheoryError

SCALES = ("quick", "full", "paper")
VERDICTS = ("reproduced", "differs", "not-run")
RECORD_KEYS = (
    "id",
    "paper",
    "where",
    "statement",
    "expected",
    "measured",
    "uncertainty",
    "scale",
    "verdict",
    "reason",
)
CLAIMS_FILE = "claims.json"


class ClaimError(DltheoryError):
    """A claim is declared or measured inconsistently (unknown id, missing reason, ...)."""


# --------------------------------------------------------------------------------------- rules


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@dataclass(frozen=True)
class Rule:
    """How a measurement is judged. Build rules with the functions below, not directly.

    ``kind`` is one of ``within`` (|value - target| <= tolerance + sigmas * se), ``interval``
    (value in [low, high], widened by sigmas * se), ``above`` (value - sigmas * se > threshold),
    ``below`` (value + sigmas * se < threshold), ``ci_contains`` (the measured confidence
    interval contains the target).
    """

    kind: str
    target: float | None = None
    low: float | None = None
    high: float | None = None
    rel: float = 0.0
    abs: float = 0.0
    sigmas: float = 0.0

    def describe(self) -> str:
        s = f" (allowing {self.sigmas:g} SE)" if self.sigmas else ""
        if self.kind == "within":
            assert self.target is not None
            tol = []
            if self.rel:
                tol.append(f"{self.rel:.0%}")
            if self.abs:
                tol.append(_fmt(self.abs))
            return f"{_fmt(self.target)} ± {' + '.join(tol) or '0'}{s}"
        if self.kind == "interval":
            return f"in [{_fmt(self.low)}, {_fmt(self.high)}]{s}"  # type: ignore[arg-type]
        if self.kind == "above":
            return f"> {_fmt(self.target)}{s}"  # type: ignore[arg-type]
        if self.kind == "below":
            return f"< {_fmt(self.target)}{s}"  # type: ignore[arg-type]
        if self.kind == "ci_contains":
            return f"CI contains {_fmt(self.target)}"  # type: ignore[arg-type]
        raise ClaimError(f"unknown rule kind {self.kind!r}")

    def judge(
        self, value: float, uncertainty: float | tuple[float, float] | None
    ) -> tuple[bool, str]:
        """Whether ``value`` (with its uncertainty) satisfies the rule, and why, in one line."""
        se = _standard_error(uncertainty)
        if self.kind == "within":
            assert self.target is not None
            tolerance = self.rel * abs(self.target) + self.abs + self.sigmas * se
            gap = abs(value - self.target)
            ok = gap <= tolerance
            return (
                ok,
                f"|{_fmt(value)} - {_fmt(self.target)}| = {_fmt(gap)} {'<=' if ok else '>'} {_fmt(tolerance)}",
            )
        if self.kind == "interval":
            assert self.low is not None
            assert self.high is not None
            slack = self.sigmas * se
            ok = self.low - slack <= value <= self.high + slack
            return (
                ok,
                f"{_fmt(value)} {'inside' if ok else 'outside'} [{_fmt(self.low - slack)}, {_fmt(self.high + slack)}]",
            )
        if self.kind == "above":
            assert self.target is not None
            edge = value - self.sigmas * se
            ok = edge > self.target
            return (
                ok,
                f"{_fmt(value)} - {self.sigmas:g}×{_fmt(se)} = {_fmt(edge)} {'>' if ok else '<='} {_fmt(self.target)}",
            )
        if self.kind == "below":
            assert self.target is not None
            edge = value + self.sigmas * se
            ok = edge < self.target
            return (
                ok,
                f"{_fmt(value)} + {self.sigmas:g}×{_fmt(se)} = {_fmt(edge)} {'<' if ok else '>='} {_fmt(self.target)}",
            )
        if self.kind == "ci_contains":
            assert self.target is not None
            if not isinstance(uncertainty, (tuple, list)) or len(uncertainty) != 2:
                raise ClaimError(
                    "a ci_contains rule needs the uncertainty as a (low, high) interval"
                )
            low, high = float(uncertainty[0]), float(uncertainty[1])
            if not (math.isfinite(low) and math.isfinite(high)):
                return False, "the confidence interval is not finite"
            ok = low <= self.target <= high
            return (
                ok,
                f"CI [{_fmt(low)}, {_fmt(high)}] {'contains' if ok else 'excludes'} {_fmt(self.target)}",
            )
        raise ClaimError(f"unknown rule kind {self.kind!r}")


def within(target: float, *, rel: float = 0.0, abs: float = 0.0, sigmas: float = 0.0) -> Rule:
    """|value - target| <= rel·|target| + abs + sigmas·SE."""
    if rel < 0 or abs < 0 or sigmas < 0:
        raise ClaimError("tolerances must be non-negative")
    return Rule("within", target=float(target), rel=rel, abs=abs, sigmas=sigmas)


def interval(low: float, high: float, *, sigmas: float = 0.0) -> Rule:
    """low <= value <= high, each edge widened by sigmas·SE."""
    if not low <= high:
        raise ClaimError(f"interval needs low <= high, got [{low}, {high}]")
    return Rule("interval", low=float(low), high=float(high), sigmas=sigmas)


def above(threshold: float = 0.0, *, sigmas: float = 2.0) -> Rule:
    """value - sigmas·SE > threshold: a difference significantly above ``threshold``."""
    return Rule("above", target=float(threshold), sigmas=sigmas)


def below(threshold: float = 0.0, *, sigmas: float = 2.0) -> Rule:
    """value + sigmas·SE < threshold."""
    return Rule("below", target=float(threshold), sigmas=sigmas)


def ci_contains(target: float) -> Rule:
    """The measured confidence interval (uncertainty given as (low, high)) contains ``target``."""
    return Rule("ci_contains", target=float(target))


def _standard_error(uncertainty: float | tuple[float, float] | Sequence[float] | None) -> float:
    """An SE from a scalar SE or from a 95% interval (half-width / 1.96); 0 when absent."""
    if uncertainty is None:
        return 0.0
    if isinstance(uncertainty, (tuple, list)):
        low, high = float(uncertainty[0]), float(uncertainty[1])
        return abs(high - low) / (2 * 1.96)
    return abs(float(uncertainty))  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One headline result of a paper.

    ``paper_value`` is what the paper reports, in words or numbers (shown in the scoreboard);
    ``rule`` judges a measurement. ``min_scale`` is the smallest reproduce scale that measures the
    claim; below it the claim is ``not-run`` with ``requires`` as the reason.
    """

    id: str
    paper: str
    where: str
    statement: str
    paper_value: str
    rule: Rule
    min_scale: str = "quick"
    requires: str = ""

    def __post_init__(self) -> None:
        if self.min_scale not in SCALES:
            raise ClaimError(f"claim {self.id}: min_scale must be one of {SCALES}")
        if self.min_scale != "quick" and not self.requires:
            raise ClaimError(
                f"claim {self.id}: a claim above quick scale must say what it requires"
            )

    @property
    def expected(self) -> str:
        return f"{self.paper_value} [rule: {self.rule.describe()}]"

    def declared_record(self) -> dict[str, Any]:
        """The record of ``dltheory claims --json``: the claim with nothing measured."""
        return {
            "id": self.id,
            "paper": self.paper,
            "where": self.where,
            "statement": self.statement,
            "expected": self.expected,
            "measured": None,
            "uncertainty": None,
            "scale": None,
            "verdict": None,
            "reason": None,
        }


@dataclass
class Measurement:
    """What a reproduction measured for one claim."""

    value: float
    uncertainty: float | tuple[float, float] | None = None
    scale: str = "quick"
    seeds: int | None = None
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    unit: str = "seeds"  # what ``seeds`` counts: "seeds", "fold x seed units", "bootstrap samples"


def _json_number(x: Any) -> Any:
    """Finite floats as floats; NaN/inf as null (JSON has no NaN)."""
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return [_json_number(v) for v in x]
    value = float(x)
    return value if math.isfinite(value) else None


def judge(claim: Claim, measurement: Measurement) -> dict[str, Any]:
    """The claims.json record of ``claim`` measured as ``measurement``; the verdict from the rule."""
    value = float(measurement.value) if measurement.value is not None else math.nan
    if not math.isfinite(value):
        verdict, reason = "differs", "the measurement is not a finite number"
    else:
        ok, why = claim.rule.judge(value, measurement.uncertainty)
        verdict, reason = ("reproduced" if ok else "differs"), why
    extra = []
    if measurement.seeds is not None:
        extra.append(f"{measurement.seeds} {measurement.unit}")
    if measurement.seconds is not None:
        extra.append(f"{measurement.seconds:.0f} s")
    if extra:
        reason = f"{reason} ({', '.join(extra)})"
    return {
        "id": claim.id,
        "paper": claim.paper,
        "where": claim.where,
        "statement": claim.statement,
        "expected": claim.expected,
        "measured": _json_number(value),
        "uncertainty": _json_number(measurement.uncertainty),
        "scale": measurement.scale,
        "verdict": verdict,
        "reason": reason,
    }


def not_run(claim: Claim, scale: str, reason: str) -> dict[str, Any]:
    """The record of a claim that could not be measured: the reason is required."""
    if not reason or not reason.strip():
        raise ClaimError(f"claim {claim.id}: not-run needs a reason")
    return {
        **claim.declared_record(),
        "scale": scale,
        "verdict": "not-run",
        "reason": reason.strip(),
    }


def mean_and_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (ddof=1); SE is NaN for fewer than two values."""
    xs = [float(v) for v in values]
    if not xs:
        return math.nan, math.nan
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return mean, math.nan
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
    return mean, math.sqrt(var / len(xs))


def jackknife_se(leave_one_out: Sequence[Any]) -> Any:
    """The delete-one jackknife standard error from the ``m`` leave-one-out estimates:
    sqrt((m - 1) / m * sum_i (x_i - mean)^2). Each estimate may be a number or an array (the SE
    is then elementwise, an array; numpy is imported only for this call)."""
    import numpy as np

    values = np.stack([np.asarray(v) for v in leave_one_out])
    m = len(values)
    se = np.sqrt((m - 1) / m * ((values - values.mean(0)) ** 2).sum(0))
    return float(se) if se.ndim == 0 else se


def jackknife(
    samples: Sequence[Any], statistic: Callable[[list[Any]], float]
) -> tuple[float, float]:
    """``statistic`` on all samples (e.g. one per seed) and its leave-one-out jackknife standard
    error; the SE is NaN for fewer than three samples."""
    items = list(samples)
    n = len(items)
    full = statistic(items)
    if n <= 2:
        return full, math.nan
    return full, jackknife_se([statistic(items[:i] + items[i + 1 :]) for i in range(n)])


def weakest(conditions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Of conditions ``{"value": mean, "se": SE, ...}`` that must all be positive, the one with the
    smallest mean / SE (the one closest to failing); a zero or non-finite SE counts as +-inf (0 for
    a zero value)."""

    def z(c: dict[str, Any]) -> float:
        if not math.isfinite(c["se"]) or c["se"] == 0:
            return math.copysign(math.inf, c["value"]) if c["value"] else 0.0
        return float(c["value"] / c["se"])

    return min(conditions, key=z)


class ClaimBoard:
    """The claims of one package for one reproduce run.

    ``measure`` judges a claim; ``not_run`` records why one could not be measured. ``write``
    refuses to leave a claim that this scale should measure silently unmeasured, and marks claims
    above the run's scale ``not-run`` with the claim's ``requires``.
    """

    def __init__(self, claims: Sequence[Claim], scale: str) -> None:
        if scale not in SCALES:
            raise ClaimError(f"scale must be one of {SCALES}, got {scale!r}")
        ids = [c.id for c in claims]
        if len(set(ids)) != len(ids):
            raise ClaimError(f"duplicate claim ids: {sorted({i for i in ids if ids.count(i) > 1})}")
        self.claims = {c.id: c for c in claims}
        self.scale = scale
        self.records: dict[str, dict[str, Any]] = {}

    def _claim(self, claim_id: str) -> Claim:
        if claim_id not in self.claims:
            raise ClaimError(f"unknown claim id {claim_id!r}; declared: {', '.join(self.claims)}")
        return self.claims[claim_id]

    def measure(
        self,
        claim_id: str,
        value: float,
        uncertainty: float | tuple[float, float] | None = None,
        *,
        seeds: int | None = None,
        seconds: float | None = None,
        unit: str = "seeds",
        **details: Any,
    ) -> dict[str, Any]:
        claim = self._claim(claim_id)
        measurement = Measurement(value, uncertainty, self.scale, seeds, seconds, details, unit)
        record = judge(claim, measurement)
        self.records[claim_id] = record
        return record

    def not_run(self, claim_id: str, reason: str) -> dict[str, Any]:
        record = not_run(self._claim(claim_id), self.scale, reason)
        self.records[claim_id] = record
        return record

    def wants(self, claim_id: str) -> bool:
        """Whether this scale is large enough to measure the claim."""
        return SCALES.index(self._claim(claim_id).min_scale) <= SCALES.index(self.scale)

    def finalise(self) -> list[dict[str, Any]]:
        missing = []
        for claim_id, claim in self.claims.items():
            if claim_id in self.records:
                continue
            if not self.wants(claim_id):
                self.records[claim_id] = not_run(
                    claim, self.scale, f"needs --scale {claim.min_scale}: {claim.requires}"
                )
            else:
                missing.append(claim_id)
        if missing:
            raise ClaimError(
                f"the {self.scale} reproduction left claims unmeasured: {', '.join(missing)}"
            )
        return [self.records[c] for c in self.claims]

    def write(self, out: str | Path) -> Path:
        from dltheory.core.files import atomic_write_text

        records = self.finalise()
        path = Path(out) / CLAIMS_FILE
        atomic_write_text(path, json.dumps(records, indent=2, allow_nan=False) + "\n")
        return path


# ------------------------------------------------------------------------------- reading files


def validate_record(record: Any, where: str = "claims.json") -> dict[str, Any]:
    """Check one claims.json record: exactly the documented keys and a known verdict."""
    if not isinstance(record, dict):
        raise ClaimError(f"{where}: a record is not an object")
    keys = set(record)
    if keys != set(RECORD_KEYS):
        extra, missing = sorted(keys - set(RECORD_KEYS)), sorted(set(RECORD_KEYS) - keys)
        raise ClaimError(
            f"{where}: record {record.get('id')!r} has keys extra={extra} missing={missing}"
        )
    if record["verdict"] not in VERDICTS:
        raise ClaimError(f"{where}: record {record['id']!r} has verdict {record['verdict']!r}")
    if record["verdict"] == "not-run" and not (record["reason"] or "").strip():
        raise ClaimError(f"{where}: record {record['id']!r} is not-run without a reason")
    return record


def read_claims(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a claims.json file; a one-line ClaimError when it is malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ClaimError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, list):
        raise ClaimError(f"{path}: expected a JSON list of claim records")
    return [validate_record(r, str(path)) for r in data]


def verdict_counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return counts


def format_measured(record: dict[str, Any]) -> str:
    """'0.31 ± 0.02', '0.31 [0.28, 0.35]' or '-' for the scoreboard."""
    value, unc = record.get("measured"), record.get("uncertainty")
    if value is None:
        return "-"
    text = _fmt(value)
    if isinstance(unc, list) and len(unc) == 2 and None not in unc:
        return f"{text} [{_fmt(unc[0])}, {_fmt(unc[1])}]"
    if isinstance(unc, (int, float)):
        return f"{text} ± {_fmt(unc)}"
    return text
