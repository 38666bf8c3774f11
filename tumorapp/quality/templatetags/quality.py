from django import template

register = template.Library()


@register.filter
def pct(value) -> str:
    """A proportion (metrics.proportion dict) or a plain share as a percentage."""
    if isinstance(value, dict):
        value = value.get("value")
    return "—" if value is None else f"{100 * value:.1f} %"


@register.filter
def pct1(value) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


@register.filter
def ci(value: dict) -> str:
    interval = value.get("ci95") if isinstance(value, dict) else None
    if not interval:
        return "no cases"
    return f"95 % CI {100 * interval[0]:.1f}–{100 * interval[1]:.1f} %"


@register.inclusion_tag("quality/_reading_load.html")
def expected_second_reads() -> dict:
    """The expected share of second reads under the current double-reading rule (shown
    where the rule is configured: the site options page)."""
    from tumorapp.quality.selectors import second_read_share

    return {"load": second_read_share()}
