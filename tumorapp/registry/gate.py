"""The non-regression gate of a promotion, read from a comparison's stored result.

A candidate is held back when it is worse than the active version beyond its own 95 %
interval (``stats.worse_beyond_interval``) on:

1. the recall of any class on the base data's Testing split (a candidate trained on a
   site's cases alone can forget a class the site rarely sees);
2. tumour sensitivity on the site's held-out reviewed cases.

An admin may still promote it, with a written reason (audited).
"""

from __future__ import annotations

from tumorapp.registry import stats


def _sensitivity(figures: dict) -> dict | None:
    tumour = figures.get("tumour") or {}
    positives = tumour.get("positives") or 0
    if not positives or tumour.get("sensitivity") is None:
        return None
    caught = positives - tumour.get("false_negatives", 0)
    return stats.proportion(caught, positives)


def regressions(result: dict) -> list[str]:
    """What the candidate lost, one sentence each; empty when it passes (or when the
    comparison lacks the figures: a set that was not evaluated holds nothing back)."""
    found = []
    sets = result.get("sets") or {}
    base = sets.get("base_testing")
    if base:
        new, old = base["candidate"].get("recall_ci") or {}, base["baseline"].get("recall_ci") or {}
        for name in old:
            if stats.worse_beyond_interval(new.get(name), old.get(name)):
                found.append(
                    f"Base Testing recall of {name}: {new[name]['value']:.2f} "
                    f"(95 % CI up to {new[name]['ci95'][1]:.2f}) vs {old[name]['value']:.2f}."
                )
    site = sets.get("reviewed")
    if site:
        new, old = _sensitivity(site["candidate"]), _sensitivity(site["baseline"])
        if stats.worse_beyond_interval(new, old):
            found.append(
                f"Site tumour sensitivity: {new['value']:.2f} "
                f"(95 % CI up to {new['ci95'][1]:.2f}) vs {old['value']:.2f}."
            )
    return found
