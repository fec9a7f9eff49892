"""Render a `run_bench` report as a rich table (terminal) or a Markdown table (docs/bench.md)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from t5eval.bench.ct2 import CT2
from t5eval.bench.measures import VARIANTS
from t5eval.model.kernel_probe import record_line

# The reference is transformers, except in rows labelled "vs CTranslate2".
_COLUMNS = ("measure", "unit", "native (median, spread)", "reference (median, spread)", "native/ref",
            "native % peak", "ref % peak", "outputs", "peak RSS growth MiB (native/ref)")


def _rate(side: dict[str, Any]) -> str:
    return f"{side['rate_median']:,.0f} ±{side['spread_pct'] / 2:.0f}%"


def _outputs(m: dict[str, Any]) -> str:
    if "rows" in m:
        flag = "identical" if m["outputs_identical"] else "DIFFER"
        return f"{flag} ({m['rows_identical']}/{m['rows']} rows)"
    if "outputs_identical" in m:
        return ("allclose" if m["outputs_identical"] else "NOT close") + f" (max |Δ| {m['max_abs_diff']:.1e})"
    return "not compared"


def _mem(side: dict[str, Any]) -> str:
    mem = side["memory"]
    if mem.get("cuda_max_allocated_mib") is not None:
        return f"{mem['cuda_max_allocated_mib']:.0f}"
    return f"{mem['rss_growth_mib']:.0f}"


def rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per synthetic measure and per end-to-end mode."""
    out = []
    for name, m in report["measures"].items():
        if name == "e2e":
            out.extend(_e2e_rows(m))
            continue
        label = f"beam {m['beam_size']}" if name == "beam" else name
        nat, hf = m["native"], m["transformers"]
        out.append([label, m["unit"], _rate(nat), _rate(hf), f"{m['ratio']:.2f}×",
                    f"{100 * nat['share_of_peak']:.0f}%", f"{100 * hf['share_of_peak']:.0f}%", _outputs(m),
                    f"{_mem(nat)} / {_mem(hf)}"])
        if "decode_loop_rate" in m:
            loop = m["decode_loop_rate"]
            out.append([f"{label}: decoder loop only", "generated tokens/s (minus encoder)",
                        f"{loop['native']:,.0f}", f"{loop['transformers']:,.0f}", f"{loop['ratio']:.2f}×",
                        "", "", "", ""])
        for side, _, tag in VARIANTS:
            if side in m:
                out.extend(_variant_rows(label, m, side, tag))
        out.extend(_ct2_rows(label, m.get("first_step", m)))
    return out


def _agreement(agree: dict[str, Any]) -> str:
    return (f"{agree['rows_identical']}/{agree['rows']} rows identical, "
            f"{100 * agree['token_agreement']:.1f}% tokens before the first difference")


def _ct2_rows(label: str, m: dict[str, Any]) -> list[list[str]]:
    """Native against CTranslate2 (fp32 with fp32, int8 with int8), each with its agreement with native fp32."""
    if CT2 not in m:
        return []
    if "first_step" in m["unit"]:
        label = f"{label} + first step"
    nat, ct2 = m["native"], m[CT2]
    rows = [[f"{label} vs CTranslate2", m["unit"], _rate(nat), _rate(ct2), f"{m['ratio_ct2']:.2f}×",
             f"{100 * nat['share_of_peak']:.0f}%", f"{100 * ct2['share_of_peak']:.0f}%",
             "CT2 vs native: " + _agreement(m["ct2_vs_native"]), f"{_mem(nat)} / {_mem(ct2)}"]]
    for side, ct2_side, tag in VARIANTS:
        if side not in m or ct2_side not in m:
            continue
        q, c = m[side], m[ct2_side]
        kept = (f"vs native fp32: native {tag} {_agreement(m[f'{tag}_vs_fp32'])}; "
                f"CT2 {tag} {_agreement(m[f'ct2_{tag}_vs_fp32'])}")
        rows.append([f"{label} ({tag}) vs CTranslate2 {tag}", m["unit"], _rate(q), _rate(c),
                     f"{m[f'ratio_ct2_{tag}']:.2f}×", f"{100 * q['share_of_peak']:.0f}%",
                     f"{100 * c['share_of_peak']:.0f}%", kept, f"{_mem(q)} / {_mem(c)}"])
    return rows


def _variant_rows(label: str, m: dict[str, Any], side: str, tag: str) -> list[list[str]]:
    """The int8 or bf16 copy against transformers fp32 (its rate in the native column), with what it keeps of fp32."""
    q, hf, agree = m[side], m["transformers"], m[f"{tag}_vs_fp32"]
    if "token_agreement" in agree:
        kept = (f"vs native fp32: {agree['rows_identical']}/{agree['rows']} rows identical, "
                f"{100 * agree['token_agreement']:.1f}% tokens before the first difference")
    else:
        kept = f"vs native fp32: relative RMS Δ {agree['rel_rms_diff']:.1e}"
    rows = [[f"{label} ({tag}, not exact)", m["unit"], _rate(q), _rate(hf), f"{m[f'ratio_{tag}']:.2f}×",
             f"{100 * q['share_of_peak']:.0f}%", "", kept, f"{_mem(q)} / {_mem(hf)}"]]
    loop = m.get("decode_loop_rate", {})
    if f"ratio_{tag}" in loop:
        rows.append([f"{label} ({tag}): decoder loop only", "generated tokens/s (minus encoder)",
                     f"{loop[side]:,.0f}", f"{loop['transformers']:,.0f}", f"{loop[f'ratio_{tag}']:.2f}×",
                     "", "", "", ""])
    return rows


def _e2e_rows(m: dict[str, Any]) -> list[list[str]]:
    out = []
    for mode in ("file_order", "bucketed"):
        nat, hf = m["native"][mode], m["transformers"][mode]
        flag = "identical" if nat["outputs_identical"] and hf["outputs_identical"] else "DIFFER"
        out.append([f"{m['task']} n={m['n']} {mode.replace('_', ' ')}", "examples/s",
                    f"{nat['examples_per_s']:.2f} ({nat['wall_s']:.1f} s)",
                    f"{hf['examples_per_s']:.2f} ({hf['wall_s']:.1f} s)", f"{m['ratio'][mode]:.2f}×", "", "",
                    f"{flag}; {_metrics(nat['metrics'])}", ""])
        if CT2 in m:
            ct2 = m[CT2][mode]
            same = f"{ct2['rows_identical']}/{ct2['rows']} predictions as native"
            out.append([f"{m['task']} n={m['n']} {mode.replace('_', ' ')} vs CTranslate2", "examples/s",
                        f"{nat['examples_per_s']:.2f} ({nat['wall_s']:.1f} s)",
                        f"{ct2['examples_per_s']:.2f} ({ct2['wall_s']:.1f} s)", f"{m['ratio_ct2'][mode]:.2f}×",
                        "", "", f"{same}; {_metrics(ct2['metrics'])}", ""])
    return out


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in metrics.items())


def kernels_line(env: dict[str, Any]) -> str:
    """The fp32 linear kernel per GEMM shape class and both kernels' measured GFLOP/s ("" if not chosen)."""
    rec = env.get("linear_kernels")
    if not rec or "measured_gflops" not in rec:
        return ""
    return record_line(rec)


def _footer(report: dict[str, Any]) -> str:
    env, peak = report["env"], report["matmul_peak"]
    kernels = kernels_line(env)
    return (f"{kernels + ' · ' if kernels else ''}{env['cpu']} · {env['device']} · torch {env['packages']['torch']} · transformers "
            f"{env['packages']['transformers']} · ctranslate2 {env['packages'].get('ctranslate2', 'absent')} · threads {env['torch_threads']} · fp32 matmul peak "
            f"{max(peak['gflops_best'], report.get('matmul_peak_end', peak)['gflops_best']):.0f} GFLOP/s · load {report['load_average_start']} → "
            f"{report['load_average_end']}")


def rich_table(report: dict[str, Any]) -> Table:
    """The terminal table; the caption names the machine, versions, threads, peak and load."""
    cfg = report["config"]
    table = Table(title=f"t5eval bench: {cfg['preset']} B={cfg['batch_size']} S={cfg['input_len']} "
                        f"N={cfg['new_tokens']} (median of {cfg['repeats']})", caption=_footer(report))
    for col in _COLUMNS:
        table.add_column(col)
    for row in rows(report):
        table.add_row(*row)
    return table


def markdown_table(report: dict[str, Any]) -> str:
    """The same table in Markdown, for docs/bench.md."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(report)]
    return "\n".join([*lines, "", _footer(report)])
