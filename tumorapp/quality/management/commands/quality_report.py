"""Print the quality figures (text, or JSON for other monitoring)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from tumorapp.quality.dashboard import format_duration
from tumorapp.quality.selectors import QualityFilters, quality_report
from tumorapp.quality.services import quality_refresh


def _pct(p: dict) -> str:
    if p["value"] is None:
        return "n/a (no cases)"
    low, high = p["ci95"]
    return (
        f"{100 * p['value']:.1f} % ({p['successes']}/{p['n']}, "
        f"95 % CI {100 * low:.1f}-{100 * high:.1f} %)"
    )


class Command(BaseCommand):
    help = "Print the quality dashboard's figures for a date range and model version."

    def add_arguments(self, parser):
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, YYYY-MM-DD")
        parser.add_argument("--model-version", default="", help="one model version")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--refresh", action="store_true", help="rebuild every day's counts first"
        )

    def handle(self, *args, **options):
        if options["refresh"]:
            refresh = quality_refresh(full=True)
            self.stderr.write(f"Rebuilt {refresh.rows} day rows in {refresh.seconds:.2f} s.")
        default = QualityFilters.default()
        filters = QualityFilters(
            start=options["start"] or default.start,
            end=options["end"] or default.end,
            model_version=options["model_version"],
        )
        if filters.start > filters.end:
            raise CommandError("--start is after --end")
        report = quality_report(filters=filters)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=1))
            return
        self.stdout.write("\n".join(self.lines(report)))

    def lines(self, report: dict) -> list[str]:
        meta, mvf, drift = report["meta"], report["model_vs_final"], report["drift"]
        out = [
            f"Quality {meta['start']} to {meta['end']}, model "
            f"{meta['model_version'] or 'all versions'} "
            f"(reference {meta['reference_version'] or 'none'}), "
            f"figures as of {meta['refreshed_at'] or 'never'}",
            "",
            f"Model vs final label: {mvf['reviewed']} reviewed cases",
            f"  accuracy     {_pct(mvf['accuracy'])}",
            f"  sensitivity  {_pct(mvf['sensitivity'])}",
            f"  specificity  {_pct(mvf['specificity'])}",
        ]
        if mvf["reference"]:
            ref = mvf["reference"]
            out.append(
                f"  model card   sensitivity {100 * ref['sensitivity']:.1f} % "
                f"(95 % CI {100 * ref['sensitivity_ci95'][0]:.1f}-"
                f"{100 * ref['sensitivity_ci95'][1]:.1f} %)"
            )
        out.append("  confusion (rows final, columns AI): " + " ".join(mvf["classes"]))
        for name, row in zip(mvf["final_classes"], mvf["confusion"], strict=True):
            out.append(f"    {name:<14}" + "".join(f"{n:>8}" for n in row))
        for r in mvf["per_class_recall"]:
            out.append(f"  recall {r['class']:<11} {_pct(r)}")
        ece = mvf["calibration"]["ece"]
        out.append(f"  calibration ECE {'n/a' if ece is None else f'{ece:.3f}'}")
        out += ["", f"Input drift: {drift['scans']} scans, PSI threshold {drift['threshold']}"]
        for f in drift["features"]:
            score = "n/a (no fingerprint)" if f["psi"] is None else f"{f['psi']:.3f}"
            out.append(f"  {f['name']:<15} PSI {score}{'  ALERT' if f['alert'] else ''}")
        for name, values in drift["categories"].items():
            out.append(f"  {name}: " + ", ".join(f"{k} {n}" for k, n in values.items()))
        out.append(f"  out-of-distribution {_pct(drift['ood'])}")
        out += ["", "Workflow: queue"]
        out += [f"  {q['label']:<24} {q['n']}" for q in report["queue"]]
        for stage, rows in report["turnaround"].items():
            out.append(f"  {stage.replace('_', ' ')} (median / 90th percentile):")
            for row in rows:
                out.append(
                    f"    {row['band']:<18} n={row['n']:<7} {format_duration(row['median_s'])}"
                    f" / {format_duration(row['p90_s'])}"
                )
        out.append(
            "  reads per reader: "
            + ", ".join(f"{r['reader']} {r['reads']}" for r in report["throughput"])
        )
        bias = report["automation_bias"]
        out += [
            "",
            "Automation bias (first reads)",
            f"  final equals AI, AI shown first   {_pct(bias['final_equals_ai_when_shown'])}",
            f"  final equals AI, blind first read {_pct(bias['final_equals_ai_when_blind'])}",
            f"  blind answer equals AI            {_pct(bias['initial_equals_ai_when_blind'])}",
            f"  blind answer changed after reveal {_pct(bias['changed_after_reveal'])}",
            f"  of those, changed to the AI's     {_pct(bias['changed_towards_ai'])}",
        ]
        if report["alerts"]:
            out += ["", "OPEN ALERTS"] + [f"  {a['message']}" for a in report["alerts"]]
        return out
